//! Watchers: the live receivers of changes, and the history they can start from.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{Change, ChangeKind, ListOptions, Res, Store, Watch, WatchStart};
use crate::compact::Doc;
use crate::error::StatusError;
use crate::resources::{GroupResource, ResourceInfo};
use crate::selectors::{FieldSelector, LabelSelector};

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    Event {
        kind: &'static str,
        object: Arc<Value>,
    },
    /// A bookmark at this resourceVersion.
    Bookmark(u64),
}

pub(super) struct Watcher {
    id: u64,
    gr: GroupResource,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    pub(super) tx: mpsc::UnboundedSender<WatchItem>,
}

impl Watcher {
    fn matches<'a, D: Doc<'a>>(&self, obj: D) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event type this watcher sees for a change, if it sees it at all.
    pub(super) fn translate(&self, c: &Change) -> Option<&'static str> {
        if c.gr != self.gr || self.namespace.as_ref().is_some_and(|ns| *ns != c.namespace) {
            return None;
        }
        let now = self.matches(c.object.doc());
        let kind = match c.kind {
            ChangeKind::Added => now.then_some("ADDED")?,
            ChangeKind::Deleted => now.then_some("DELETED")?,
            ChangeKind::Modified => {
                let before = c.old.as_ref().is_some_and(|o| self.matches(o.doc()));
                match (before, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
        };
        Some(kind)
    }
}

impl Store {
    /// Starts a watch. Fails with 410 Expired when `start` is older than the history.
    /// A signal that `info`'s objects changed: the receiver sees the resourceVersion of the
    /// latest change, and however many changes happen before it looks, it wakes once. For
    /// level-triggered readers (the simulated components), which need no objects from a
    /// watch: a watch would hold every changed object until they read it.
    pub fn changes(&self, info: &ResourceInfo) -> tokio::sync::watch::Receiver<u64> {
        let mut s = self.lock();
        let rv = s.rv;
        s.signals
            .entry(info.group_resource())
            .or_insert_with(|| tokio::sync::watch::Sender::new(rv))
            .subscribe()
    }

    pub fn watch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
        start: WatchStart,
    ) -> Res<Watch> {
        if let Some(view) = self.view(info) {
            return view.watch(self, ns, opts, start);
        }
        let mut s = self.lock();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = s.next_watch;
        s.next_watch += 1;
        let watcher = Watcher {
            id,
            gr: info.group_resource(),
            namespace: ns
                .filter(|n| info.namespaced && !n.is_empty())
                .map(str::to_string),
            labels: opts.labels.clone(),
            fields: opts.fields.clone(),
            tx,
        };
        match start {
            WatchStart::Now => {
                if let Some(table) = s.objects.get(&watcher.gr) {
                    for (key, obj) in table {
                        if watcher.namespace.as_ref().is_some_and(|n| *n != key.0) {
                            continue;
                        }
                        if watcher.matches(obj.doc()) {
                            let item = WatchItem::Event {
                                kind: "ADDED",
                                object: obj.value(),
                            };
                            if watcher.tx.send(item).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            WatchStart::After(from) => {
                if from < s.floor {
                    return Err(StatusError::expired(from, s.floor + 1));
                }
                for change in s.history.iter().filter(|c| c.rv > from) {
                    if let Some(kind) = watcher.translate(change) {
                        let item = WatchItem::Event {
                            kind,
                            object: change.object.value(),
                        };
                        if watcher.tx.send(item).is_err() {
                            break;
                        }
                    }
                }
            }
        }
        s.watchers.push(watcher);
        Ok(Watch { id, rx })
    }

    /// Queues a bookmark at the current resourceVersion behind everything already sent.
    pub fn bookmark(&self, watch_id: u64) {
        let s = self.lock();
        let rv = s.rv;
        if let Some(w) = s.watchers.iter().find(|w| w.id == watch_id) {
            // A closed receiver is dropped at the next change.
            let _ = w.tx.send(WatchItem::Bookmark(rv));
        }
    }

    /// Ends one watch.
    pub fn end_watch(&self, watch_id: u64) {
        self.lock().watchers.retain(|w| w.id != watch_id);
    }

    /// Ends every watch (their streams close; clients reconnect).
    pub fn end_all_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Forgets the change history, as etcd's compaction does. The resourceVersion moves on by
    /// one and becomes the oldest a watch may start from, so a watch resuming from any
    /// resourceVersion a client has seen (a list's, an event's or a bookmark's) gets 410
    /// Expired, while a list made now answers one it can watch from. Answers that one.
    pub fn compact(&self) -> u64 {
        let mut s = self.lock();
        s.rv += 1;
        s.floor = s.rv;
        s.history.clear();
        s.rv
    }

    /// Oldest resourceVersion a watch can start after.
    pub fn history_floor(&self) -> u64 {
        self.lock().floor
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_change_signal_wakes_once_for_many_changes_of_its_resource_only() {
        let store = Store::default();
        let pods = store.resource("v1", "Pod").expect("pods");
        let config_maps = store.resource("v1", "ConfigMap").expect("configmaps");
        let mut changes = store.changes(&pods);
        assert!(!changes.has_changed().expect("open"));
        store
            .create(
                &config_maps,
                Some("default"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            )
            .expect("configmap");
        assert!(!changes.has_changed().expect("open"));
        for name in ["a", "b", "c"] {
            store
                .create(
                    &pods,
                    Some("default"),
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}),
                )
                .expect("pod");
        }
        assert!(changes.has_changed().expect("open"));
        assert_eq!(*changes.borrow_and_update(), store.stats().resource_version);
        assert!(!changes.has_changed().expect("open"));
    }
}
