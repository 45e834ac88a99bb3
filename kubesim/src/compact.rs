//! The form objects are kept in: a JSON tree of exact-sized slices with shared strings.
//!
//! A `serde_json::Value` object is a `BTreeMap`, and every map, even one with a single entry,
//! takes a whole B-tree leaf (about 630 bytes for `String` keys and `Value` values). A pod has
//! twenty-odd maps, so most of its memory was empty leaf slots (measured by
//! `examples/pod_memory.rs`). [`Compact`] keeps an object as one boxed slice of sorted entries
//! (40 bytes each), and keys and short strings as `Arc<str>` taken from one interner, so the
//! `metadata`, `nginx:1.27`, `Running` and node names of 150,000 pods are each stored once.
//!
//! ```text
//!  Value (request, watch event) --Compact::from_value--> Compact (store + history, one Arc)
//!  Compact --to_value--> Value (get, list, watch replay)
//!  selectors read either through [`Doc`]
//! ```

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use serde_json::{Map, Number, Value};

/// Strings longer than this are kept apart rather than interned (annotations, data).
const INTERN_MAX: usize = 64;

/// A JSON value in its stored form.
#[derive(Debug, Clone, PartialEq)]
pub enum Compact {
    Null,
    Bool(bool),
    Number(Number),
    String(Arc<str>),
    Array(Box<[Compact]>),
    /// Entries sorted by key, each key once.
    Object(Box<[(Arc<str>, Compact)]>),
}

/// The shared strings. Entries no object holds any more are dropped whenever the table has
/// doubled since the last sweep, so the table stays within twice what is live.
struct Interner {
    set: HashSet<Arc<str>>,
    sweep_at: usize,
}

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > INTERN_MAX {
            return Arc::from(s);
        }
        if let Some(found) = self.set.get(s) {
            return found.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_at = (self.set.len() * 2).max(4096);
        }
        let fresh: Arc<str> = Arc::from(s);
        self.set.insert(fresh.clone());
        fresh
    }
}

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        set: HashSet::new(),
        sweep_at: 4096,
    })
});

impl Compact {
    /// The stored form of `value`.
    pub fn from_value(value: &Value) -> Compact {
        let mut interner = INTERNER.lock().unwrap_or_else(|e| e.into_inner());
        Self::build(value, &mut interner)
    }

    fn build(value: &Value, interner: &mut Interner) -> Compact {
        match value {
            Value::Null => Compact::Null,
            Value::Bool(b) => Compact::Bool(*b),
            Value::Number(n) => Compact::Number(n.clone()),
            Value::String(s) => Compact::String(interner.get(s)),
            Value::Array(items) => {
                Compact::Array(items.iter().map(|v| Self::build(v, interner)).collect())
            }
            Value::Object(map) => {
                let mut entries: Vec<(Arc<str>, Compact)> = map
                    .iter()
                    .map(|(k, v)| (interner.get(k), Self::build(v, interner)))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Compact::Object(entries.into_boxed_slice())
            }
        }
    }

    /// The value again, as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Compact::Null => Value::Null,
            Compact::Bool(b) => Value::Bool(*b),
            Compact::Number(n) => Value::Number(n.clone()),
            Compact::String(s) => Value::String(s.to_string()),
            Compact::Array(items) => Value::Array(items.iter().map(Compact::to_value).collect()),
            Compact::Object(entries) => {
                let map: Map<String, Value> = entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect();
                Value::Object(map)
            }
        }
    }

    /// The member `key` of an object.
    pub fn member(&self, key: &str) -> Option<&Compact> {
        match self {
            Compact::Object(entries) => entries
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .ok()
                .map(|i| &entries[i].1),
            _ => None,
        }
    }
}

/// A stored object: its compact form, and the `serde_json::Value` last built from it, kept
/// only as long as some reader holds it. The simulated components list every pod on each
/// pass, one after another or at once; while one pass holds a pod's `Value`, the others get
/// the same one instead of building their own, so a pass costs one tree per pod, not one per
/// component (measured by `examples/pod_memory.rs --simulated`).
#[derive(Debug)]
pub struct Stored {
    doc: Compact,
    view: Mutex<Weak<Value>>,
}

impl Stored {
    /// The stored form of `value`.
    pub fn from_value(value: &Value) -> Stored {
        Stored {
            doc: Compact::from_value(value),
            view: Mutex::new(Weak::new()),
        }
    }

    /// The compact form.
    pub fn doc(&self) -> &Compact {
        &self.doc
    }

    /// The object as a `Value`: the one a reader still holds, or a new one.
    pub fn value(&self) -> Arc<Value> {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = view.upgrade() {
            return held;
        }
        let fresh = Arc::new(self.doc.to_value());
        *view = Arc::downgrade(&fresh);
        fresh
    }
}

impl std::ops::Deref for Stored {
    type Target = Compact;

    fn deref(&self) -> &Compact {
        &self.doc
    }
}

/// Read access to a JSON document in either form, for selectors and owner lookups.
pub trait Doc {
    /// The member `key` of an object.
    fn field(&self, key: &str) -> Option<&Self>;
    /// The string, if this is one.
    fn text(&self) -> Option<&str>;
    /// The elements, if this is an array.
    fn elements(&self) -> Option<Box<dyn Iterator<Item = &Self> + '_>>;
    /// How a field selector sees the value: strings as they are, null (or missing) as the
    /// empty string, anything else as its JSON text.
    fn selector_text(&self) -> String;

    /// The value at a path of object members.
    fn at(&self, path: &[&str]) -> Option<&Self> {
        path.iter().try_fold(self, |v, k| v.field(k))
    }
}

impl Doc for Value {
    fn field(&self, key: &str) -> Option<&Self> {
        self.get(key)
    }

    fn text(&self) -> Option<&str> {
        self.as_str()
    }

    fn elements(&self) -> Option<Box<dyn Iterator<Item = &Self> + '_>> {
        self.as_array()
            .map(|a| Box::new(a.iter()) as Box<dyn Iterator<Item = &Self>>)
    }

    fn selector_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl Doc for Compact {
    fn field(&self, key: &str) -> Option<&Self> {
        self.member(key)
    }

    fn text(&self) -> Option<&str> {
        match self {
            Compact::String(s) => Some(s),
            _ => None,
        }
    }

    fn elements(&self) -> Option<Box<dyn Iterator<Item = &Self> + '_>> {
        match self {
            Compact::Array(items) => Some(Box::new(items.iter())),
            _ => None,
        }
    }

    fn selector_text(&self) -> String {
        match self {
            Compact::Null => String::new(),
            Compact::String(s) => s.to_string(),
            other => other.to_value().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn readers_share_a_stored_objects_value_while_one_holds_it() {
        let stored = Stored::from_value(&json!({"metadata": {"name": "p"}, "spec": {"a": [1, 2]}}));
        let first = stored.value();
        let second = stored.value();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*first, stored.doc().to_value());
        drop((first, second));
        let third = stored.value();
        assert_eq!(Arc::strong_count(&third), 1);
        assert_eq!(third["spec"]["a"][1], 2);
    }

    #[test]
    fn round_trips_and_shares_strings() {
        let values = [
            json!(null),
            json!({"b": [1, -2, 2.5, true, null, "x"], "a": {"z": {}, "y": []}, "": ""}),
            json!({"metadata": {"name": "web", "labels": {"app": "web"}},
                   "long": "x".repeat(INTERN_MAX + 1)}),
        ];
        for v in &values {
            assert_eq!(Compact::from_value(v).to_value(), *v);
        }
        let a = Compact::from_value(&json!({"app": "web-shared-string"}));
        let b = Compact::from_value(&json!({"app": "web-shared-string"}));
        match (a.member("app"), b.member("app")) {
            (Some(Compact::String(x)), Some(Compact::String(y))) => {
                assert!(Arc::ptr_eq(x, y), "short strings are interned")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn both_forms_read_alike() {
        let v = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 3,
            "ok": true, "none": null, "list": ["a", "b"]}});
        let c = Compact::from_value(&v);
        for path in [
            &["metadata", "labels", "app"][..],
            &["spec", "replicas"],
            &["spec", "ok"],
            &["spec", "none"],
            &["spec", "list"],
            &["spec", "missing"],
        ] {
            assert_eq!(
                v.at(path).map(Doc::selector_text),
                c.at(path).map(Doc::selector_text),
                "{path:?}"
            );
        }
        assert_eq!(
            c.at(&["spec", "list"])
                .and_then(Doc::elements)
                .map(|e| e.filter_map(Doc::text).collect::<Vec<_>>()),
            Some(vec!["a", "b"])
        );
    }
}
