//! Lists with selectors and limit/continue paging.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::{Key, ListOptions, ListPage, Res, Store};
use crate::compact::Stored;
use crate::error::StatusError;
use crate::resources::ResourceInfo;

fn encode_continue(rv: u64, key: &Key) -> String {
    format!("{rv}\n{}\n{}", key.0, key.1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, Key)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut parts = text.splitn(3, '\n');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, (parts.next()?.into(), parts.next()?.into())))
}

impl Store {
    /// Every stored object of a resource, in all namespaces, in the compact form the store
    /// holds (no copy: the store's own). For readers that look at a few fields of many
    /// objects (the simulated components): a list would build a `Value` tree per object.
    /// A view (`events.k8s.io/v1`) has no storage of its own: ask for the resource it views.
    pub fn snapshot(&self, info: &ResourceInfo) -> Res<Vec<Arc<Stored>>> {
        if self.view(info).is_some() {
            return Err(StatusError::bad_request(format!(
                "{} is a view of another resource",
                info.plural
            )));
        }
        let s = self.lock();
        Ok(s.objects
            .get(&info.group_resource())
            .map(|table| table.values().cloned().collect())
            .unwrap_or_default())
    }

    /// Lists objects, across namespaces when `ns` is `None`.
    pub fn list(&self, info: &ResourceInfo, ns: Option<&str>, opts: &ListOptions) -> Res<ListPage> {
        if let Some(view) = self.view(info) {
            return view.list(self, ns, opts);
        }
        let s = self.lock();
        let start = match opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(
                decode_continue(token)
                    .ok_or_else(|| StatusError::bad_request("invalid continue token"))?,
            ),
            None => None,
        };
        let rv = start.as_ref().map(|(rv, _)| *rv).unwrap_or(s.rv);
        let empty = BTreeMap::new();
        let table = s.objects.get(&info.group_resource()).unwrap_or(&empty);
        let ns = ns.filter(|n| info.namespaced && !n.is_empty());
        let mut items = Vec::new();
        let mut remaining = 0usize;
        let mut last: Option<Key> = None;
        let limit = opts.limit.filter(|l| *l > 0);
        for (key, obj) in table {
            if let Some((_, after)) = &start
                && key <= after
            {
                continue;
            }
            if ns.is_some_and(|n| n != key.0) {
                continue;
            }
            if let Some(name) = opts.fields.pinned_name()
                && name != key.1
            {
                continue;
            }
            if !opts.labels.matches(obj.doc()) || !opts.fields.matches(obj.doc()) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
                continue;
            }
            last = Some(key.clone());
            items.push(obj.value());
        }
        let (continue_token, remaining) = match (remaining, last) {
            (0, _) | (_, None) => (None, None),
            (n, Some(last)) => (Some(encode_continue(rv, &last)), Some(n)),
        };
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token,
            remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compact::Doc;

    #[test]
    fn a_snapshot_holds_the_stored_objects_themselves() {
        let store = Store::default();
        let pods = store.resource("v1", "Pod").expect("pods");
        for (ns, name) in [("default", "a"), ("kube-system", "b")] {
            store
                .create(
                    &pods,
                    Some(ns),
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}),
                )
                .expect("pod");
        }
        let snapshot = store.snapshot(&pods).expect("snapshot");
        let names: Vec<&str> = snapshot.iter().map(|p| p.doc().meta("name")).collect();
        assert_eq!(names, ["a", "b"], "every namespace");
        let again = store.snapshot(&pods).expect("snapshot");
        assert!(Arc::ptr_eq(&snapshot[0], &again[0]), "no copy");
        assert_eq!(
            snapshot[1].doc().str_at(&["spec", "containers"]),
            None,
            "an array is not a string"
        );
        assert_eq!(
            snapshot[1]
                .doc()
                .items_at(&["spec", "containers"])
                .filter_map(|c| c.str_at(&["image"]))
                .collect::<Vec<_>>(),
            ["i"]
        );
        let view = store
            .resource("events.k8s.io/v1", "Event")
            .expect("events.k8s.io");
        assert!(store.snapshot(&view).is_err(), "a view has no storage");
    }
}
