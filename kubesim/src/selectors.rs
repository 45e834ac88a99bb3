//! Label and field selectors, parsed from the query string and matched against JSON objects.

use crate::compact::Doc;
use crate::error::StatusError;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`). Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 316
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn set_values(key: &str, rest: &str, raw: &str) -> Result<Vec<String>, StatusError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad_label(raw, "values must be in parentheses"))?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() || !values.iter().all(|v| valid_value(v)) || !valid_key(key) {
        return Err(bad_label(raw, "invalid key or values"));
    }
    Ok(values)
}

fn bad_label(raw: &str, why: &str) -> StatusError {
    StatusError::bad_request(format!("unable to parse requirement: {raw:?}: {why}"))
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, StatusError> {
        let mut reqs = Vec::new();
        for raw in split_top(s) {
            let part = raw.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                LabelReq::NotExists(key.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                LabelReq::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                LabelReq::NotIn(k.trim().into(), set_values(k.trim(), rest, part)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                LabelReq::In(k.trim().into(), set_values(k.trim(), rest, part)?)
            } else {
                LabelReq::Exists(part.to_string())
            };
            let (key, value) = match &req {
                LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => (k, Some(v)),
                LabelReq::In(k, _)
                | LabelReq::NotIn(k, _)
                | LabelReq::Exists(k)
                | LabelReq::NotExists(k) => (k, None),
            };
            if !valid_key(key) || value.is_some_and(|v| !valid_value(v)) {
                return Err(bad_label(part, "invalid label key or value"));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches<'a, D: Doc<'a>>(&self, obj: D) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let labels = obj.at(&["metadata", "labels"]);
        let get = |k: &str| labels.and_then(|l| l.field(k)).and_then(Doc::text);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector (`metadata.name=x,spec.nodeName!=y`). Any dotted path is accepted;
/// a missing field compares as the empty string, as the real API does for `spec.nodeName=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(Vec<String>, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, StatusError> {
        let mut reqs = Vec::new();
        for raw in s.split(',') {
            let part = raw.trim();
            if part.is_empty() {
                continue;
            }
            let (path, equal, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(StatusError::bad_request(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(StatusError::bad_request(format!(
                    "field label not supported: {part}"
                )));
            }
            reqs.push((path, equal, value.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name this selector pins (`metadata.name=x`), if any.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, eq, _)| *eq && p.len() == 2 && p[0] == "metadata" && p[1] == "name")
            .map(|(_, _, v)| v.as_str())
    }

    /// The same requirements with each dotted path renamed by `rename` (a resource served
    /// under other field names than it is stored with).
    pub fn map_paths(
        &self,
        rename: impl Fn(&str) -> Result<String, StatusError>,
    ) -> Result<Self, StatusError> {
        let mut reqs = Vec::with_capacity(self.0.len());
        for (path, equal, value) in &self.0 {
            let renamed = rename(&path.join("."))?;
            reqs.push((
                renamed.split('.').map(str::to_string).collect(),
                *equal,
                value.clone(),
            ));
        }
        Ok(Self(reqs))
    }

    pub fn matches<'a, D: Doc<'a>>(&self, obj: D) -> bool {
        self.0.iter().all(|(path, equal, want)| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let have = obj.at(&path).map(Doc::selector_text).unwrap_or_default();
            (have == *want) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}},
               "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let p = pod();
        let m = |s: &str| LabelSelector::parse(s).map(|l| l.matches(&p));
        assert_eq!(m("app=web").ok(), Some(true));
        assert_eq!(m("app==web,tier=fe").ok(), Some(true));
        assert_eq!(m("app!=web").ok(), Some(false));
        assert_eq!(m("app in (db, web)").ok(), Some(true));
        assert_eq!(m("app notin (web)").ok(), Some(false));
        assert_eq!(m("missing notin (web)").ok(), Some(true));
        assert_eq!(m("tier").ok(), Some(true));
        assert_eq!(m("!tier").ok(), Some(false));
        assert_eq!(m("!other,app in (web,x)").ok(), Some(true));
        assert_eq!(m("").ok(), Some(true));
        assert!(m("app in web").is_err());
        assert!(m("a=b c").is_err());
    }

    #[test]
    fn field_paths() {
        let p = pod();
        let m = |s: &str| FieldSelector::parse(s).map(|f| f.matches(&p));
        assert_eq!(m("metadata.name=a").ok(), Some(true));
        assert_eq!(m("metadata.namespace=ns,spec.nodeName=n1").ok(), Some(true));
        assert_eq!(m("status.phase!=Running").ok(), Some(false));
        assert_eq!(m("spec.missing=").ok(), Some(true));
        assert!(m("nonsense").is_err());
        assert_eq!(
            FieldSelector::parse("metadata.name=x")
                .ok()
                .as_ref()
                .and_then(|f| f.pinned_name()),
            Some("x")
        );
    }
}
