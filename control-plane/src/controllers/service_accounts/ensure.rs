//! The one "make it so" write of the objects the control plane keeps for everyone (a
//! namespace's `default` account and CA ConfigMap, the `kubernetes` Service and its
//! Endpoints): created when missing, put back when what `fix` cares about was changed,
//! left alone otherwise, on the revision read.

use serde_json::Value;

use crate::core::Error;
use crate::resources::objects::{parse, to_bytes};
use crate::store::{read_decide_write, Done, Key, Step, Store};

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    Restored,
    Unchanged,
}

/// Makes `key` exist as `fix` wants: `fix(None)` is the new object (its uid is set here),
/// `fix(Some(stored))` the stored one corrected, or `None` when it is right.
pub async fn ensure(
    store: &dyn Store,
    key: &Key,
    fix: impl Fn(Option<&Value>) -> Option<Value> + Send,
) -> Result<Ensured, Error> {
    let done = read_decide_write(
        store,
        key,
        |current| {
            let Some(current) = current else {
                let uid = crate::core::ids::new_uid();
                let mut value = fix(None).unwrap_or_default();
                value["metadata"]["uid"] = Value::from(uid.as_str());
                return Ok(Step::Create {
                    uid,
                    bytes: to_bytes(&value),
                    then: Ensured::Created,
                });
            };
            let stored = parse(current)?;
            Ok(match fix(Some(&stored)) {
                Some(fixed) if fixed != stored => Step::Update {
                    bytes: to_bytes(&fixed),
                    then: Ensured::Restored,
                },
                _ => Step::Keep(Ensured::Unchanged),
            })
        },
        || Error::Conflict(format!("{key} keeps changing; trying again later")),
    )
    .await?;
    Ok(match done {
        Done::Kept(what) | Done::Written(what, _) | Done::Deleted(what, _) => what,
    })
}
