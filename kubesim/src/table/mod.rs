//! Server-side printing: `meta.k8s.io` `Table` answers for clients that ask for them in
//! `Accept` (`application/json;as=Table;v=v1;g=meta.k8s.io`, as `kubectl get` does), so
//! `kubectl get` prints the columns a real cluster prints.
//!
//! ```text
//!  Accept + ?includeObject ──negotiate──▶ TableRequest
//!  ResourceInfo (+ its CRD) ──printer_for──▶ Printer (columns, cells of one object)
//!  objects ──TableRequest::table──▶ Table {columnDefinitions, rows: [{cells, object}]}
//! ```
//!
//! Lists, single gets and watch events are printed; in a watch only the first event carries
//! the column definitions, as the real API server does.

mod jsonpath;
mod printers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

use crate::error::StatusError;
use crate::resources::ResourceInfo;

pub use printers::printer_for;

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    /// The object's metadata as a `PartialObjectMetadata` (the default).
    Metadata,
    Object,
}

/// A request for Table output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRequest {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as asked.
    pub api_version: &'static str,
    pub include: Include,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: String,
    pub format: String,
    pub description: String,
    /// 0 for the default columns, 1 for those `-o wide` adds.
    pub priority: i64,
}

impl Column {
    fn definition(&self) -> Value {
        json!({
            "name": self.name, "type": self.kind, "format": self.format,
            "description": self.description, "priority": self.priority,
        })
    }
}

/// How one kind is printed.
pub struct Printer {
    pub columns: Vec<Column>,
    cells: Cells,
}

enum Cells {
    Builtin(fn(&Value, DateTime<Utc>) -> Vec<Value>),
    /// A CRD's `additionalPrinterColumns`: (type, JSONPath) after the name.
    Paths(Vec<(String, String)>),
}

impl Printer {
    /// The cells of one object's row, ages measured at `now`.
    pub fn cells(&self, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
        match &self.cells {
            Cells::Builtin(f) => f(obj, now),
            Cells::Paths(paths) => {
                let mut cells = vec![json!(crate::meta::name(obj))];
                cells.extend(
                    paths
                        .iter()
                        .map(|(kind, path)| printers::path_cell(obj, kind, path, now)),
                );
                cells
            }
        }
    }
}

/// Reads `Accept` and `includeObject`: `Some` when the client's first acceptable media type
/// is a Table, `None` for plain JSON.
pub fn negotiate(
    headers: &HeaderMap,
    include_object: Option<&str>,
) -> Result<Option<TableRequest>, StatusError> {
    let accept = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut wanted = None;
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let base = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut as_kind, mut version, mut group) = ("", "", "");
        for p in parts {
            match p.split_once('=') {
                Some(("as", v)) => as_kind = v,
                Some(("v", v)) => version = v,
                Some(("g", v)) => group = v,
                _ => {}
            }
        }
        if !matches!(base.as_str(), "application/json" | "application/*" | "*/*") {
            continue;
        }
        if as_kind.is_empty() {
            break;
        }
        if as_kind == "Table" && group == "meta.k8s.io" {
            match version {
                "v1" => wanted = Some("meta.k8s.io/v1"),
                "v1beta1" => wanted = Some("meta.k8s.io/v1beta1"),
                _ => continue,
            }
            break;
        }
    }
    let Some(api_version) = wanted else {
        return Ok(None);
    };
    let include = match include_object {
        None | Some("" | "Metadata") => Include::Metadata,
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        Some(other) => {
            return Err(StatusError::bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            )));
        }
    };
    Ok(Some(TableRequest {
        api_version,
        include,
    }))
}

fn partial_metadata(api_version: &str, obj: &Value) -> Value {
    let mut metadata = obj["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    json!({"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": metadata})
}

impl TableRequest {
    /// A Table of `items`; `list_meta` becomes its `metadata`; column definitions are left
    /// out when `headers` is false (watch events after the first).
    pub fn table(
        &self,
        printer: &Printer,
        info: &ResourceInfo,
        items: &[Arc<Value>],
        list_meta: Value,
        headers: bool,
    ) -> Value {
        let now = Utc::now();
        let rows: Vec<Value> = items
            .iter()
            .map(|obj| {
                let object = match self.include {
                    Include::None => Value::Null,
                    Include::Metadata => partial_metadata(self.api_version, obj),
                    Include::Object => crate::respond::render(info, obj),
                };
                json!({"cells": printer.cells(obj, now), "object": object})
            })
            .collect();
        let columns: Vec<Value> = if headers {
            printer.columns.iter().map(Column::definition).collect()
        } else {
            Vec::new()
        };
        json!({
            "kind": "Table",
            "apiVersion": self.api_version,
            "metadata": list_meta,
            "columnDefinitions": columns,
            "rows": rows,
        })
    }
}

/// The age of a timestamp as the real printers show it (`5m`, `3h12m`, `<unknown>`).
pub fn age(timestamp: &Value, now: DateTime<Utc>) -> String {
    timestamp
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "<unknown>".to_string(),
            |t| human_duration(now.signed_duration_since(t.with_timezone(&Utc))),
        )
}

/// Kubernetes' `duration.HumanDuration`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return two_units(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return two_units(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return two_units(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return two_units(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

/// `value` of `unit` followed by the `rest` in the next smaller unit, left out when zero
/// (`5m`, `5m30s`).
fn two_units(value: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{value}{unit}")
    } else {
        format!("{value}{unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = accept.parse() {
            h.insert(http::header::ACCEPT, v);
        }
        h
    }

    #[test]
    fn negotiation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        type Case<'a> = (&'a str, Option<&'a str>, Option<(&'a str, Include)>);
        let cases: &[Case] = &[
            (kubectl, None, Some(("meta.k8s.io/v1", Include::Metadata))),
            (
                kubectl,
                Some("Object"),
                Some(("meta.k8s.io/v1", Include::Object)),
            ),
            (
                kubectl,
                Some("None"),
                Some(("meta.k8s.io/v1", Include::None)),
            ),
            (
                "application/json;as=Table;v=v2;g=meta.k8s.io, application/json; as=Table; v=v1beta1; g=meta.k8s.io",
                None,
                Some(("meta.k8s.io/v1beta1", Include::Metadata)),
            ),
            ("application/json", None, None),
            ("", None, None),
            (
                "application/json, application/json;as=Table;v=v1;g=meta.k8s.io",
                None,
                None,
            ),
            (
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                None,
                None,
            ),
            (
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
                None,
                None,
            ),
        ];
        for (accept, include, want) in cases {
            let got = negotiate(&headers(accept), *include)
                .unwrap_or_else(|e| panic!("{accept}: {e:?}"))
                .map(|t| (t.api_version, t.include));
            assert_eq!(got, *want, "{accept} includeObject={include:?}");
        }
        assert!(negotiate(&headers(kubectl), Some("Everything")).is_err());
    }

    #[test]
    fn human_durations() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 12, "3h12m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 86400, "8d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(TimeDelta::seconds(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn ages() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(age(&json!("2024-05-01T11:55:00Z"), now), "5m");
        assert_eq!(age(&Value::Null, now), "<unknown>");
        assert_eq!(age(&json!("yesterday"), now), "<unknown>");
    }
}
