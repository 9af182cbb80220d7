//! Watch: the objects in a scope as they change, resumable from any resourceVersion.
//!
//! - `resource_version` empty (or "0"): the current objects come first as ADDED, then a
//!   BOOKMARK carrying the revision they are consistent at, then every change after it
//!   (Kubernetes' list+watch in one call; the BOOKMARK says "initial state complete").
//! - `resource_version` N: every change after N, nothing before. A client that reconnects
//!   with the last resourceVersion it saw misses nothing and sees nothing twice.
//! - N older than the store's compaction point: `OutOfRange` (see `Error::Expired`),
//!   also mid-stream if a slow client falls behind compaction: list again and watch from
//!   the list's resource_version.
//!
//! With a label selector, an object relabelled out of the selection arrives as DELETED
//! (as in Kubernetes) if this stream had shown it; after a resume the stream cannot know
//! what the client saw before, so such an object simply stops appearing.

use std::collections::HashSet;

use super::served::{Object as WireObject, WatchEvent};
use futures::stream::{self, BoxStream, StreamExt};

use super::get::{self, Scope};
use super::objects;
use crate::core::Error;
use crate::store::{Event, EventStream, EventType, Key, Store};

/// The events a Watch sends; it ends only with an error or when the client hangs up.
pub type WatchStream = BoxStream<'static, Result<WatchEvent, Error>>;

pub const BOOKMARK: &str = "BOOKMARK";

/// Starts a watch of `scope` from `resource_version` (see the module docs).
pub async fn watch(
    store: &dyn Store,
    scope: Scope,
    resource_version: &str,
) -> Result<WatchStream, Error> {
    let mut shown = HashSet::new();
    let (initial, from) = match objects::parse_revision(resource_version)? {
        Some(revision) if revision > 0 => (Vec::new(), revision),
        _ => {
            let (items, revision) = get::list(store, &scope).await?;
            let mut initial = Vec::with_capacity(items.len() + 1);
            for object in items {
                shown.insert(Key::new(&object.kind, &object.namespace, &object.name));
                initial.push(Ok(WatchEvent {
                    r#type: EventType::Added.as_str().to_string(),
                    resource_version: object.resource_version.clone(),
                    object: Some(object),
                }));
            }
            initial.push(Ok(WatchEvent {
                r#type: BOOKMARK.to_string(),
                object: None,
                resource_version: revision.to_string(),
            }));
            (initial, revision)
        }
    };
    let events = store.watch(Some(scope.kind.name), from).await?;
    let live = Live {
        events,
        scope,
        shown,
    };
    let live = stream::unfold(live, |mut live| async move {
        let item = live.next().await?;
        Some((item, live))
    });
    Ok(stream::iter(initial).chain(live).boxed())
}

/// The store's events for one kind, filtered down to the scope.
struct Live {
    events: EventStream,
    scope: Scope,
    /// Keys of objects this stream has shown and not yet deleted: a selector-filtered
    /// object that stops matching is sent as DELETED only if the client has it.
    shown: HashSet<Key>,
}

impl Live {
    async fn next(&mut self) -> Option<Result<WatchEvent, Error>> {
        loop {
            let event = match self.events.next().await? {
                Ok(event) => event,
                Err(e) => return Some(Err(e.into())),
            };
            match self.admit(event) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The event as this watch shows it, or `None` when it is out of scope.
    fn admit(&mut self, event: Event) -> Result<Option<WatchEvent>, Error> {
        let Event { kind, object } = event;
        let in_scope = self.scope.admits_stored(&object)?;
        let was_shown = self.shown.contains(&object.key);
        let shown_as = match kind {
            EventType::Deleted if in_scope || was_shown => {
                self.shown.remove(&object.key);
                EventType::Deleted
            }
            EventType::Added | EventType::Modified if in_scope => {
                self.shown.insert(object.key.clone());
                kind
            }
            EventType::Added | EventType::Modified if was_shown => {
                self.shown.remove(&object.key);
                EventType::Deleted
            }
            _ => return Ok(None),
        };
        // Every watcher of the kind gets this event: the bytes are spliced, not re-encoded.
        let mut json = Vec::with_capacity(object.json.len() + 40);
        objects::write_served(&mut json, &object)?;
        let resource_version = object.revision.to_string();
        let wire = WireObject {
            kind: object.key.kind,
            namespace: object.key.namespace,
            name: object.key.name,
            uid: object.uid,
            resource_version: resource_version.clone(),
            json,
        };
        Ok(Some(WatchEvent {
            r#type: shown_as.as_str().to_string(),
            resource_version,
            object: Some(wire),
        }))
    }
}
