//! Custom resources: a CRD's `additionalPrinterColumns`.

use super::*;

/// A CRD's `additionalPrinterColumns` for the served version, else NAME and AGE.
pub(super) fn custom(info: &ResourceInfo, crd: Option<&Value>) -> Printer {
    let declared = crd
        .and_then(|crd| {
            crd["spec"]["versions"]
                .as_array()?
                .iter()
                .find(|v| v["name"].as_str() == Some(info.version.as_str()))
        })
        .and_then(|v| v["additionalPrinterColumns"].as_array())
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            vec![json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})]
        });
    let mut columns = vec![name_col()];
    let mut paths = Vec::new();
    for c in &declared {
        let kind = c["type"].as_str().unwrap_or("string").to_string();
        columns.push(Column {
            name: c["name"].as_str().unwrap_or_default().into(),
            kind: kind.clone(),
            format: c["format"].as_str().unwrap_or_default().into(),
            description: c["description"].as_str().unwrap_or_default().into(),
            priority: c["priority"].as_i64().unwrap_or(0),
        });
        paths.push((kind, c["jsonPath"].as_str().unwrap_or_default().to_string()));
    }
    Printer {
        columns,
        cells: Cells::Paths(paths),
    }
}

/// One additional printer column's cell: the first value the path selects, converted to the
/// column's type (`date` columns print as an age, as the real CRD printer does).
pub(in crate::table) fn path_cell(
    obj: &Value,
    kind: &str,
    path: &str,
    now: DateTime<Utc>,
) -> Value {
    let Some(value) = jsonpath::find(obj, path).into_iter().next() else {
        return Value::Null;
    };
    match kind {
        "string" => match value {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
        "integer" => value.as_i64().map_or(Value::Null, |n| json!(n)),
        "number" => value.as_f64().map_or(Value::Null, |n| json!(n)),
        "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => {
            if value.is_string() {
                json!(age(value, now))
            } else {
                Value::Null
            }
        }
        _ => value.clone(),
    }
}
