//! ConfigMaps and Secrets (how many keys they hold) and ServiceAccounts.

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{len, or, text};
use super::{docs, Column};

pub const CONFIG_MAP: &[Column] = &[
    Column::name(),
    Column::text("Data", docs::CM_DATA),
    Column::age(),
];

pub const SECRET: &[Column] = &[
    Column::name(),
    Column::text("Type", docs::SECRET_TYPE),
    Column::text("Data", docs::SECRET_DATA),
    Column::age(),
];

pub const SERVICE_ACCOUNT: &[Column] = &[
    Column::name(),
    Column::text("Secrets", docs::SA_SECRETS),
    Column::age(),
];

pub fn config_map(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        text(o, "/metadata/name").into(),
        (len(o, "/data") + len(o, "/binaryData")).into(),
        age(o, now),
    ]
}

pub fn secret(o: &Value, now: Timestamp) -> Vec<Value> {
    // stringData is write-only: the server has merged it into data. The type defaults
    // to Opaque.
    vec![
        text(o, "/metadata/name").into(),
        or(text(o, "/type"), "Opaque").into(),
        len(o, "/data").into(),
        age(o, now),
    ]
}

pub fn service_account(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        text(o, "/metadata/name").into(),
        len(o, "/secrets").into(),
        age(o, now),
    ]
}
