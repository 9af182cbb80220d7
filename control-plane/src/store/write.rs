//! The rules of a write, the same for every backend: what a create, an update or a delete
//! makes of the object found at its key, at the revision the write takes. A backend reads
//! the current object, asks [`Write::event`] and applies the event it returns (object,
//! log, counter, broadcast) in one step of its own.

use super::{Event, EventType, Key, StoreError, Stored};

/// One write as the [`Store`](super::Store) contract describes it.
pub(super) enum Write {
    Create {
        uid: String,
        json: Vec<u8>,
    },
    /// Compare-and-swap on `expected` (`None` = unconditional); keeps the uid.
    Update {
        json: Vec<u8>,
        expected: Option<i64>,
    },
    /// Compare-and-swap on `expected`; the event carries the last state.
    Delete {
        expected: Option<i64>,
    },
}

impl Write {
    /// The event this write makes at `revision` of `current` (the object at `key`, if any),
    /// or why it is refused.
    pub(super) fn event(
        self,
        key: Key,
        current: Option<&Stored>,
        revision: i64,
    ) -> Result<Event, StoreError> {
        let existing = || current.ok_or_else(|| StoreError::NotFound(key.clone()));
        let (kind, object) = match self {
            Write::Create { uid, json } => {
                if current.is_some() {
                    return Err(StoreError::AlreadyExists(key));
                }
                let object = Stored {
                    key,
                    uid,
                    revision,
                    json,
                };
                (EventType::Added, object)
            }
            Write::Update { json, expected } => {
                let current = existing()?;
                check_expected(current, expected)?;
                let object = Stored {
                    key,
                    uid: current.uid.clone(),
                    revision,
                    json,
                };
                (EventType::Modified, object)
            }
            Write::Delete { expected } => {
                let current = existing()?;
                check_expected(current, expected)?;
                let object = Stored {
                    revision,
                    ..current.clone()
                };
                (EventType::Deleted, object)
            }
        };
        Ok(Event { kind, object })
    }
}

/// The compare half of compare-and-swap.
fn check_expected(current: &Stored, expected: Option<i64>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.revision => Err(StoreError::Conflict {
            key: current.key.clone(),
            expected,
            actual: current.revision,
        }),
        _ => Ok(()),
    }
}
