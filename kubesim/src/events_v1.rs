//! `events.k8s.io/v1` Event as a view of the core `v1` Event, as the real API server serves it:
//! one storage (core Events), two API versions. An Event created through either version is
//! read, listed and watched through both.
//!
//! The field mapping is upstream's (`pkg/apis/events/v1/conversion.go`):
//!
//! | events.k8s.io/v1           | core/v1                         |
//! |----------------------------|---------------------------------|
//! | `regarding`                | `involvedObject`                |
//! | `note`                     | `message`                       |
//! | `reportingController`      | `reportingComponent`            |
//! | `deprecatedSource`         | `source`                        |
//! | `deprecatedFirstTimestamp` | `firstTimestamp`                |
//! | `deprecatedLastTimestamp`  | `lastTimestamp`                 |
//! | `deprecatedCount`          | `count`                         |
//! | `eventTime`, `series`, `reportingInstance`, `action`, `reason`, `related`, `type` | same |
//!
//! Field selectors are mapped the same way (`regarding.name` -> `involvedObject.name`,
//! `reportingController` -> `reportingComponent`); the core spellings are not accepted
//! through `events.k8s.io`, as upstream. Creation through `events.k8s.io/v1` is validated
//! strictly as upstream's `ValidateEventCreate` does for that version (`eventTime`,
//! `reportingController`, `reportingInstance`, `action`, `reason` required; the deprecated
//! fields unset); core creations keep the lenient legacy rules.

use serde_json::{Map, Value, json};

use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;
use crate::selectors::FieldSelector;

pub const GROUP: &str = "events.k8s.io";
pub const API_VERSION: &str = "events.k8s.io/v1";

/// (events.k8s.io/v1 name, core/v1 name) of every field whose name differs.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields both versions name alike.
const SAME: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

/// Whether `info` is the `events.k8s.io` view of the core Events.
pub fn is_view(info: &ResourceInfo) -> bool {
    info.group == GROUP && info.plural == "events"
}

fn copy(
    from: &Map<String, Value>,
    pairs: impl Iterator<Item = (&'static str, &'static str)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (src, dst) in pairs {
        if let Some(v) = from.get(src).filter(|v| !v.is_null()) {
            out.insert(dst.to_string(), v.clone());
        }
    }
    out
}

/// A core/v1 Event as events.k8s.io/v1 shows it.
pub fn from_core(core: &Value) -> Value {
    let empty = Map::new();
    let fields = core.as_object().unwrap_or(&empty);
    let mut out = copy(
        fields,
        SAME.iter()
            .map(|f| (*f, *f))
            .chain(RENAMED.iter().map(|(v1, core)| (*core, *v1))),
    );
    out.insert("apiVersion".into(), json!(API_VERSION));
    out.insert("kind".into(), json!("Event"));
    // `eventTime` is not omitempty upstream: a legacy Event shows `eventTime: null`.
    out.entry("eventTime").or_insert(Value::Null);
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in the core/v1 form it is stored in.
pub fn to_core(event: &Value) -> Value {
    let empty = Map::new();
    let fields = event.as_object().unwrap_or(&empty);
    let mut out = copy(
        fields,
        SAME.iter()
            .map(|f| (*f, *f))
            .chain(RENAMED.iter().map(|(v1, core)| (*v1, *core))),
    );
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    Value::Object(out)
}

/// The core form of an events.k8s.io field selector; a core spelling is refused, as upstream.
pub fn field_selector(selector: &FieldSelector) -> Result<FieldSelector, StatusError> {
    selector.map_paths(|path| {
        let mapped = match path {
            "reason" | "type" | "source" | "metadata.name" | "metadata.namespace" => path.into(),
            "reportingController" => "reportingComponent".into(),
            p => match p.strip_prefix("regarding.") {
                Some(
                    rest @ ("kind" | "namespace" | "name" | "uid" | "apiVersion"
                    | "resourceVersion" | "fieldPath"),
                ) => format!("involvedObject.{rest}"),
                _ => {
                    return Err(StatusError::bad_request(format!(
                        "field label not supported: {p}"
                    )));
                }
            },
        };
        Ok(mapped)
    })
}

fn is_set(event: &Value, field: &str) -> bool {
    match &event[field] {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Object(o) => o.values().any(|v| !v.is_null() && v != ""),
        _ => true,
    }
}

/// Upstream's strict checks of an Event created through events.k8s.io/v1, on the
/// events.k8s.io form; field paths are the core names, as upstream reports them.
pub fn validate_create(event: &Value) -> Result<(), StatusError> {
    let mut causes: Vec<(&str, String)> = Vec::new();
    let required = |field: &'static str, causes: &mut Vec<(&str, String)>| {
        if !is_set(event, field) {
            causes.push((field, "Required value".into()));
        }
    };
    required("eventTime", &mut causes);
    match event["type"].as_str() {
        Some("Normal" | "Warning") => {}
        other => causes.push((
            "type",
            format!(
                "Invalid value: \"\": has invalid value: {}",
                other.unwrap_or_default()
            ),
        )),
    }
    for (v1, core) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("deprecatedSource", "source"),
    ] {
        if is_set(event, v1) {
            causes.push((core, "Invalid value: \"\": needs to be unset".into()));
        }
    }
    if !is_set(event, "reportingController") {
        causes.push(("reportingController", "Required value".into()));
    }
    if !is_set(event, "reportingInstance") {
        causes.push(("reportingInstance", "Required value".into()));
    }
    required("action", &mut causes);
    required("reason", &mut causes);
    if event["series"].is_object() && event["series"]["count"].as_i64().unwrap_or(0) < 2 {
        causes.push((
            "series.count",
            "Invalid value: \"\": should be at least 2".into(),
        ));
    }
    if event["note"].as_str().is_some_and(|n| n.len() > 1024) {
        causes.push(("note", "Too long: may not be more than 1024 bytes".into()));
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = event["metadata"]["name"].as_str().unwrap_or_default();
    let texts: Vec<String> = causes
        .iter()
        .map(|(f, why)| format!("{f}: {why}"))
        .collect();
    let summary = match texts.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let mut error = StatusError::new(
        Reason::Invalid,
        format!("Event.{GROUP} \"{name}\" is invalid: {summary}"),
    );
    error.details = Some(json!({
        "name": name,
        "group": GROUP,
        "kind": "Event",
        "causes": causes
            .iter()
            .map(|(f, why)| json!({"reason": "FieldValueInvalid", "message": why, "field": f}))
            .collect::<Vec<_>>(),
    }));
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core_event() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "p.1", "namespace": "default", "resourceVersion": "7"},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "default", "uid": "u"},
            "reason": "Scheduled", "message": "Successfully assigned default/p to n1",
            "source": {"component": "default-scheduler"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z",
            "count": 3, "type": "Normal",
            "reportingComponent": "default-scheduler", "reportingInstance": "n1",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:05.000000Z"},
            "action": "Binding", "related": {"kind": "Node", "name": "n1"}
        })
    }

    #[test]
    fn every_field_maps_and_round_trips() {
        let core = core_event();
        let v1 = from_core(&core);
        assert_eq!(v1["apiVersion"], API_VERSION);
        assert_eq!(v1["regarding"], core["involvedObject"]);
        assert_eq!(v1["note"], core["message"]);
        assert_eq!(v1["reportingController"], "default-scheduler");
        assert_eq!(v1["reportingInstance"], "n1");
        assert_eq!(v1["deprecatedSource"], core["source"]);
        assert_eq!(v1["deprecatedFirstTimestamp"], core["firstTimestamp"]);
        assert_eq!(v1["deprecatedLastTimestamp"], core["lastTimestamp"]);
        assert_eq!(v1["deprecatedCount"], 3);
        assert_eq!(v1["series"], core["series"]);
        assert_eq!(v1["eventTime"], Value::Null);
        for core_only in [
            "involvedObject",
            "message",
            "source",
            "count",
            "firstTimestamp",
        ] {
            assert!(
                v1.get(core_only).is_none(),
                "{core_only} leaked into the v1 form"
            );
        }
        assert_eq!(to_core(&v1), core);
    }

    #[test]
    fn selectors_map_to_core_names_and_core_names_are_refused() {
        let sel = FieldSelector::parse("regarding.name=p,reportingController=c,type=Normal")
            .expect("parse");
        let core = field_selector(&sel).expect("maps");
        assert_eq!(
            core,
            FieldSelector::parse("involvedObject.name=p,reportingComponent=c,type=Normal")
                .expect("parse")
        );
        let bad = FieldSelector::parse("involvedObject.name=p").expect("parse");
        let err = field_selector(&bad).expect_err("core spelling");
        assert_eq!(
            err.message,
            "field label not supported: involvedObject.name"
        );
    }

    #[test]
    fn strict_create_rules_name_each_field() {
        let ok = json!({"metadata": {"name": "e"}, "eventTime": "2026-01-01T00:00:00.000000Z",
            "type": "Normal", "reportingController": "c", "reportingInstance": "i",
            "action": "Act", "reason": "Why", "note": "n"});
        assert!(validate_create(&ok).is_ok());
        let mut bad = ok.clone();
        bad["eventTime"] = Value::Null;
        bad["deprecatedCount"] = json!(2);
        bad["type"] = json!("Odd");
        let err = validate_create(&bad).expect_err("invalid");
        assert_eq!(
            err.message,
            "Event.events.k8s.io \"e\" is invalid: [eventTime: Required value, type: Invalid value: \"\": has invalid value: Odd, count: Invalid value: \"\": needs to be unset]"
        );
        let mut no_reporter = ok;
        no_reporter["reportingController"] = json!("");
        let err = validate_create(&no_reporter).expect_err("invalid");
        assert_eq!(
            err.message,
            "Event.events.k8s.io \"e\" is invalid: reportingController: Required value"
        );
    }
}
