//! The form objects are kept in: one exact-sized byte string per object, keys interned.
//!
//! A `serde_json::Value` object is a `BTreeMap`, and every map, even one with a single entry,
//! takes a whole B-tree leaf (about 630 bytes); a pod has twenty-odd maps. A tree of boxed
//! slices (this module's first form) still took 40 bytes per entry and one allocation per
//! map. [`Compact`] writes the whole object into one `Box<[u8]>`: a tag byte per value,
//! varint numbers and lengths, strings inline, and each key as the varint id of an interned
//! name, so `metadata`, `containerStatuses` and `lastTransitionTime` cost one or two bytes.
//! A container records its byte length, so a reader skips what it does not look at.
//!
//! ```text
//!  Value (request, watch event) --Compact::from_value--> Compact (store + history, one Arc)
//!  Compact --to_value--> Value (get, list, watch replay)
//!  Compact --node--> Node: read in place (selectors, owner lookups, simulated components)
//!  selectors and components read either form through [`Doc`]
//! ```
//!
//! The key table only grows: at most [`KEYS_MAX`] names of at most [`KEY_MAX_LEN`] bytes are
//! interned (field names, label and annotation keys); longer keys, and every key once the
//! table is full, are written inline, so input cannot grow it without bound.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};

use serde_json::{Map, Number, Value};

/// Keys longer than this are written inline rather than interned.
const KEY_MAX_LEN: usize = 64;
/// Most keys the table holds (each at most `KEY_MAX_LEN` bytes: at most 4 MiB in all).
const KEYS_MAX: usize = 1 << 16;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
/// A non-negative integer, varint.
const UINT: u8 = 3;
/// A negative integer `n`, as the varint of `-(n + 1)`.
const NINT: u8 = 4;
/// An `f64`, 8 bytes little-endian.
const FLOAT: u8 = 5;
/// Varint length, then UTF-8 bytes.
const STRING: u8 = 6;
/// Varint length of the rest, varint count, the elements.
const ARRAY: u8 = 7;
/// Varint length of the rest, varint count, the entries: a key (varint `id << 1`, or varint
/// `len << 1 | 1` and the name's bytes), then its value.
const OBJECT: u8 = 8;

/// The interned key names. A name is leaked once and lives as long as the process: the
/// table is bounded by `KEYS_MAX`.
#[derive(Default)]
struct Keys {
    ids: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

static KEYS: LazyLock<RwLock<Keys>> = LazyLock::new(RwLock::default);

fn keys_read() -> std::sync::RwLockReadGuard<'static, Keys> {
    KEYS.read().unwrap_or_else(|e| e.into_inner())
}

/// The id of an interned key, if it is one.
fn key_id(name: &str) -> Option<u32> {
    keys_read().ids.get(name).copied()
}

/// The name of an interned key.
fn key_name(id: u32) -> &'static str {
    keys_read().names.get(id as usize).copied().unwrap_or("")
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &buf[i + 1..]));
        }
    }
    None
}

fn usize_varint(buf: &[u8]) -> Option<(usize, &[u8])> {
    varint(buf).and_then(|(v, rest)| Some((usize::try_from(v).ok()?, rest)))
}

/// Writes values, interning keys into the table it holds locked.
struct Encoder<'k> {
    keys: &'k mut Keys,
    out: Vec<u8>,
}

impl Encoder<'_> {
    fn key(&mut self, name: &str) {
        let id = match self.keys.ids.get(name) {
            Some(id) => Some(*id),
            None if name.len() <= KEY_MAX_LEN && self.keys.names.len() < KEYS_MAX => {
                let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
                let id = self.keys.names.len() as u32;
                self.keys.names.push(leaked);
                self.keys.ids.insert(leaked, id);
                Some(id)
            }
            None => None,
        };
        match id {
            Some(id) => put_varint(&mut self.out, u64::from(id) << 1),
            None => {
                put_varint(&mut self.out, ((name.len() as u64) << 1) | 1);
                self.out.extend_from_slice(name.as_bytes());
            }
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.out.push(NULL),
            Value::Bool(false) => self.out.push(FALSE),
            Value::Bool(true) => self.out.push(TRUE),
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                self.out.push(STRING);
                put_varint(&mut self.out, s.len() as u64);
                self.out.extend_from_slice(s.as_bytes());
            }
            Value::Array(items) => {
                let start = self.container(ARRAY, items.len());
                for item in items {
                    self.value(item);
                }
                self.close(start);
            }
            Value::Object(map) => {
                let start = self.container(OBJECT, map.len());
                for (k, v) in map {
                    self.key(k);
                    self.value(v);
                }
                self.close(start);
            }
        }
    }

    fn number(&mut self, n: &Number) {
        if let Some(u) = n.as_u64() {
            self.out.push(UINT);
            put_varint(&mut self.out, u);
        } else if let Some(i) = n.as_i64() {
            self.out.push(NINT);
            put_varint(&mut self.out, (-(i + 1)) as u64);
        } else {
            self.out.push(FLOAT);
            let f = n.as_f64().unwrap_or_default();
            self.out.extend_from_slice(&f.to_le_bytes());
        }
    }

    /// Writes the tag and count; returns where the length goes.
    fn container(&mut self, tag: u8, count: usize) -> usize {
        self.out.push(tag);
        let start = self.out.len();
        put_varint(&mut self.out, count as u64);
        start
    }

    /// Puts the length of what was written since `start` in front of it.
    fn close(&mut self, start: usize) {
        let mut len = Vec::with_capacity(4);
        put_varint(&mut len, (self.out.len() - start) as u64);
        self.out.splice(start..start, len);
    }
}

/// A JSON value in its stored form.
#[derive(Clone, PartialEq, Eq)]
pub struct Compact(Box<[u8]>);

impl std::fmt::Debug for Compact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compact({})", self.to_value())
    }
}

impl Compact {
    /// The stored form of `value`.
    pub fn from_value(value: &Value) -> Compact {
        let mut keys = KEYS.write().unwrap_or_else(|e| e.into_inner());
        let mut encoder = Encoder {
            keys: &mut keys,
            out: Vec::new(),
        };
        encoder.value(value);
        Compact(encoder.out.into_boxed_slice())
    }

    /// The value again, as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        self.node().to_value()
    }

    /// The value, read in place.
    pub fn node(&self) -> Node<'_> {
        Node(&self.0)
    }

    /// The bytes the encoding takes.
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

/// A value inside a [`Compact`], read where it lies. The slice starts at the value's tag and
/// may run past its end.
#[derive(Clone, Copy)]
pub struct Node<'a>(&'a [u8]);

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

/// A key as written: interned or inline.
#[derive(Clone, Copy)]
enum Key<'a> {
    Id(u32),
    Inline(&'a str),
}

impl<'a> Key<'a> {
    fn read(buf: &'a [u8]) -> Option<(Key<'a>, &'a [u8])> {
        let (k, rest) = usize_varint(buf)?;
        if k & 1 == 0 {
            return Some((Key::Id(u32::try_from(k >> 1).ok()?), rest));
        }
        let len = k >> 1;
        let name = std::str::from_utf8(rest.get(..len)?).ok()?;
        Some((Key::Inline(name), &rest[len..]))
    }

    fn name(self) -> &'a str {
        match self {
            Key::Id(id) => key_name(id),
            Key::Inline(name) => name,
        }
    }
}

impl<'a> Node<'a> {
    fn tag(self) -> u8 {
        self.0.first().copied().unwrap_or(NULL)
    }

    /// The bytes after the tag.
    fn body(self) -> &'a [u8] {
        self.0.get(1..).unwrap_or_default()
    }

    /// How many bytes this value takes.
    fn len(self) -> usize {
        let body = self.body();
        let rest = match self.tag() {
            UINT | NINT => varint(body).map(|(_, r)| r),
            FLOAT => body.get(8..),
            STRING | ARRAY | OBJECT => usize_varint(body).and_then(|(len, r)| r.get(len..)),
            _ => Some(body),
        };
        // A value that does not parse (never written so) ends the buffer.
        rest.map_or(self.0.len(), |r| self.0.len() - r.len())
    }

    /// Count and first element of a container with this tag.
    fn contents(self, tag: u8) -> Option<(usize, &'a [u8])> {
        if self.tag() != tag {
            return None;
        }
        let (len, rest) = usize_varint(self.body())?;
        let inner = rest.get(..len)?;
        usize_varint(inner)
    }

    /// The entries of an object, in key order.
    fn raw_entries(self) -> impl Iterator<Item = (Key<'a>, Node<'a>)> + 'a {
        let (count, mut rest) = self.contents(OBJECT).unwrap_or((0, &[]));
        (0..count).map_while(move |_| {
            let (key, after) = Key::read(rest)?;
            let value = Node(after);
            rest = after.get(value.len()..)?;
            Some((key, value))
        })
    }

    /// The entries of an object (nothing for any other value).
    pub fn entries(self) -> impl Iterator<Item = (&'a str, Node<'a>)> + 'a {
        self.raw_entries().map(|(k, v)| (k.name(), v))
    }

    /// The elements of an array (nothing for any other value).
    pub fn items(self) -> impl Iterator<Item = Node<'a>> + 'a {
        let (count, mut rest) = self.contents(ARRAY).unwrap_or((0, &[]));
        (0..count).map_while(move |_| {
            let value = Node(rest);
            rest = rest.get(value.len()..)?;
            Some(value)
        })
    }

    /// The member `key` of an object.
    pub fn member(self, key: &str) -> Option<Node<'a>> {
        if self.tag() != OBJECT {
            return None;
        }
        self.member_by(key, key_id(key))
    }

    /// The member `key`, whose interned id (if it has one) is `id`.
    fn member_by(self, key: &str, id: Option<u32>) -> Option<Node<'a>> {
        self.raw_entries()
            .find(|(k, _)| match *k {
                Key::Id(n) => Some(n) == id,
                Key::Inline(name) => name == key,
            })
            .map(|(_, v)| v)
    }

    /// The value at a path of object members (the key table is read once for the path).
    pub fn path(self, path: &[&str]) -> Option<Node<'a>> {
        let keys = keys_read();
        path.iter().try_fold(self, |node, key| {
            (node.tag() == OBJECT).then_some(())?;
            node.member_by(key, keys.ids.get(key).copied())
        })
    }

    /// The string, if this is one.
    pub fn as_str(self) -> Option<&'a str> {
        if self.tag() != STRING {
            return None;
        }
        let (len, rest) = usize_varint(self.body())?;
        std::str::from_utf8(rest.get(..len)?).ok()
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.tag() {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self.tag() {
            UINT => varint(self.body()).and_then(|(v, _)| i64::try_from(v).ok()),
            NINT => varint(self.body()).and_then(|(v, _)| i64::try_from(v).ok().map(|v| -v - 1)),
            _ => None,
        }
    }

    pub fn is_object(self) -> bool {
        self.tag() == OBJECT
    }

    pub fn is_null(self) -> bool {
        self.tag() == NULL
    }

    /// The value as a `serde_json::Value`.
    pub fn to_value(self) -> Value {
        self.build(&keys_read())
    }

    fn build(self, keys: &Keys) -> Value {
        match self.tag() {
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UINT => varint(self.body()).map_or(Value::Null, |(v, _)| Value::from(v)),
            NINT => self.as_i64().map_or(Value::Null, Value::from),
            FLOAT => self
                .body()
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .and_then(|b| Number::from_f64(f64::from_le_bytes(b)))
                .map_or(Value::Null, Value::Number),
            STRING => Value::String(self.as_str().unwrap_or_default().to_string()),
            ARRAY => Value::Array(self.items().map(|v| v.build(keys)).collect()),
            OBJECT => {
                let map: Map<String, Value> = self
                    .raw_entries()
                    .map(|(k, v)| {
                        let name = match k {
                            Key::Id(id) => keys.names.get(id as usize).copied().unwrap_or(""),
                            Key::Inline(name) => name,
                        };
                        (name.to_string(), v.build(keys))
                    })
                    .collect();
                Value::Object(map)
            }
            _ => Value::Null,
        }
    }
}

/// A stored object: its compact form, and the `serde_json::Value` last built from it, kept
/// only as long as some reader holds it, so readers at the same time share one tree.
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

    /// The object, read in place.
    pub fn doc(&self) -> Node<'_> {
        self.doc.node()
    }

    /// The compact form.
    pub fn compact(&self) -> &Compact {
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

/// Read access to a JSON document in either form: a `&Value` or a [`Node`].
pub trait Doc<'a>: Copy + 'a {
    /// The member `key` of an object.
    fn field(self, key: &str) -> Option<Self>;
    /// The string, if this is one.
    fn text(self) -> Option<&'a str>;
    /// The elements, if this is an array.
    fn elements(self) -> Option<Box<dyn Iterator<Item = Self> + 'a>>;
    /// The boolean, if this is one.
    fn boolean(self) -> Option<bool>;
    /// The integer, if this is one that fits an `i64`.
    fn integer(self) -> Option<i64>;
    /// Whether this is an object.
    fn is_map(self) -> bool;
    /// The value as a `serde_json::Value`.
    fn to_json(self) -> Value;
    /// How a field selector sees the value: strings as they are, null (or missing) as the
    /// empty string, anything else as its JSON text.
    fn selector_text(self) -> String;

    /// The value at a path of object members.
    fn at(self, path: &[&str]) -> Option<Self> {
        path.iter().try_fold(self, |v, k| v.field(k))
    }

    /// The string at a path of object members.
    fn str_at(self, path: &[&str]) -> Option<&'a str> {
        self.at(path).and_then(Doc::text)
    }

    /// The elements of the array at a path (nothing when it is not one).
    fn items_at(self, path: &[&str]) -> Box<dyn Iterator<Item = Self> + 'a> {
        self.at(path)
            .and_then(Doc::elements)
            .unwrap_or_else(|| Box::new(std::iter::empty()))
    }

    /// `metadata.<field>` as a string, empty when missing.
    fn meta(self, field: &str) -> &'a str {
        self.str_at(&["metadata", field]).unwrap_or_default()
    }

    /// Whether `metadata.deletionTimestamp` is set.
    fn deleting(self) -> bool {
        self.str_at(&["metadata", "deletionTimestamp"]).is_some()
    }
}

impl<'a> Doc<'a> for &'a Value {
    fn field(self, key: &str) -> Option<Self> {
        self.get(key)
    }

    fn text(self) -> Option<&'a str> {
        self.as_str()
    }

    fn elements(self) -> Option<Box<dyn Iterator<Item = Self> + 'a>> {
        self.as_array()
            .map(|a| Box::new(a.iter()) as Box<dyn Iterator<Item = Self>>)
    }

    fn boolean(self) -> Option<bool> {
        self.as_bool()
    }

    fn integer(self) -> Option<i64> {
        self.as_i64()
    }

    fn is_map(self) -> bool {
        self.is_object()
    }

    fn to_json(self) -> Value {
        self.clone()
    }

    fn selector_text(self) -> String {
        match self {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl<'a> Doc<'a> for Node<'a> {
    fn field(self, key: &str) -> Option<Self> {
        self.member(key)
    }

    fn at(self, path: &[&str]) -> Option<Self> {
        self.path(path)
    }

    fn text(self) -> Option<&'a str> {
        self.as_str()
    }

    fn elements(self) -> Option<Box<dyn Iterator<Item = Self> + 'a>> {
        (self.tag() == ARRAY).then(|| Box::new(self.items()) as Box<dyn Iterator<Item = Self>>)
    }

    fn boolean(self) -> Option<bool> {
        self.as_bool()
    }

    fn integer(self) -> Option<i64> {
        self.as_i64()
    }

    fn is_map(self) -> bool {
        self.is_object()
    }

    fn to_json(self) -> Value {
        self.to_value()
    }

    fn selector_text(self) -> String {
        match self.tag() {
            NULL => String::new(),
            STRING => self.as_str().unwrap_or_default().to_string(),
            _ => self.to_value().to_string(),
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
        assert_eq!(*first, stored.compact().to_value());
        drop((first, second));
        let third = stored.value();
        assert_eq!(Arc::strong_count(&third), 1);
        assert_eq!(third["spec"]["a"][1], 2);
    }

    #[test]
    fn round_trips() {
        let values = [
            json!(null),
            json!(true),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(2.5),
            json!(""),
            json!({"b": [1, -2, 2.5, true, false, null, "x", [], {}], "a": {"z": {}, "y": []}, "": ""}),
            json!({"metadata": {"name": "web", "labels": {"app": "web", "ü": "é"}},
                   "long": "x".repeat(300), "k".repeat(KEY_MAX_LEN + 1): {"deep": [[["x"]]]}}),
            json!([{"a": 1}, {"a": 2}, "a".repeat(200)]),
        ];
        for v in &values {
            assert_eq!(Compact::from_value(v).to_value(), *v);
        }
    }

    #[test]
    fn keys_are_interned_and_long_keys_inline() {
        let short = Compact::from_value(&json!({"app": "a"}));
        // tag, length, count, key id, string tag, string length, byte
        assert_eq!(short.encoded_len(), 7);
        let long_key = "k".repeat(KEY_MAX_LEN + 1);
        let long = Compact::from_value(&json!({long_key.clone(): 1}));
        assert!(long.encoded_len() > KEY_MAX_LEN);
        assert!(key_id(&long_key).is_none(), "not interned");
        assert_eq!(
            long.node().member(&long_key).and_then(Node::as_i64),
            Some(1)
        );
        assert!(long.node().member("k").is_none());
    }

    #[test]
    fn both_forms_read_alike() {
        let v = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 3,
            "ok": true, "none": null, "list": ["a", "b"], "n": -7}});
        let c = Compact::from_value(&v);
        for path in [
            &["metadata", "labels", "app"][..],
            &["spec", "replicas"],
            &["spec", "ok"],
            &["spec", "none"],
            &["spec", "list"],
            &["spec", "missing"],
            &["spec", "n"],
            &["metadata", "labels"],
        ] {
            let (a, b) = (v.at(path), c.node().at(path));
            assert_eq!(
                a.map(Doc::selector_text),
                b.map(Doc::selector_text),
                "{path:?}"
            );
            assert_eq!(a.and_then(Doc::integer), b.and_then(Doc::integer));
            assert_eq!(a.and_then(Doc::boolean), b.and_then(Doc::boolean));
            assert_eq!(a.map(Doc::is_map), b.map(Doc::is_map));
            assert_eq!(a.map(Doc::to_json), b.map(Doc::to_json));
        }
        assert_eq!(
            c.node()
                .items_at(&["spec", "list"])
                .filter_map(Doc::text)
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(
            c.node()
                .field("spec")
                .map(|s| s.entries().map(|(k, _)| k).collect::<Vec<_>>()),
            Some(vec!["list", "n", "none", "ok", "replicas"])
        );
    }
}
