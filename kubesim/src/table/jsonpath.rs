//! The small part of kubectl's JSONPath that printer columns use: `.a.b`, `['a.b']`, `[0]`,
//! `[*]`, `.a[*].b` and filters `[?(@.type=="Ready")]` (`==`/`!=` against a quoted string,
//! number or boolean), optionally inside `{...}`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    Filter {
        path: Vec<Step>,
        equal: bool,
        value: Value,
    },
}

fn parse_literal(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Some(inner) = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
    {
        return Some(Value::String(inner.to_string()));
    }
    serde_json::from_str(s).ok()
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path)
        .trim();
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return None;
            }
            steps.push(if name == "*" {
                Step::All
            } else {
                Step::Field(name.to_string())
            });
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let (inner, after) = if let Some(f) = r.strip_prefix("?(") {
                let close = f.find(")]")?;
                (&r[..close + 2], &f[close + 2..])
            } else {
                let close = r.find(']')?;
                (&r[..close], &r[close + 1..])
            };
            rest = after;
            if let Some(filter) = inner.strip_prefix("?(") {
                let (lhs, rhs, equal) = match filter.split_once("==") {
                    Some((l, r)) => (l, r, true),
                    None => {
                        let (l, r) = filter.split_once("!=")?;
                        (l, r, false)
                    }
                };
                let lhs = lhs.trim().strip_prefix('@')?;
                steps.push(Step::Filter {
                    path: parse(lhs)?,
                    equal,
                    value: parse_literal(rhs)?,
                });
            } else if inner == "*" {
                steps.push(Step::All);
            } else if let Some(name) =
                parse_literal(inner).and_then(|v| v.as_str().map(str::to_string))
            {
                steps.push(Step::Field(name));
            } else {
                steps.push(Step::Index(inner.trim().parse().ok()?));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

fn eval<'a>(steps: &[Step], value: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(value);
        return;
    };
    match step {
        Step::Field(name) => {
            if let Some(v) = value.get(name) {
                eval(rest, v, out);
            }
        }
        Step::Index(i) => {
            if let Some(items) = value.as_array() {
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let at = if *i < 0 { len + i } else { *i };
                if let Some(v) = usize::try_from(at).ok().and_then(|at| items.get(at)) {
                    eval(rest, v, out);
                }
            }
        }
        Step::All => match value {
            Value::Array(items) => items.iter().for_each(|v| eval(rest, v, out)),
            Value::Object(m) => m.values().for_each(|v| eval(rest, v, out)),
            _ => {}
        },
        Step::Filter {
            path,
            equal,
            value: want,
        } => {
            for item in value.as_array().into_iter().flatten() {
                let mut found = Vec::new();
                eval(path, item, &mut found);
                let hit = found.contains(&want);
                if hit == *equal && (!found.is_empty() || !*equal) {
                    eval(rest, item, out);
                }
            }
        }
    }
}

/// Every value `path` selects in `obj`; empty when nothing matches or the path is not
/// understood.
pub fn find<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some(steps) = parse(path) {
        eval(&steps, obj, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let obj = json!({
            "metadata": {"name": "x", "labels": {"a.b/c": "d"}},
            "spec": {"replicas": 3, "items": [{"n": 1}, {"n": 2}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"}
            ]}
        });
        let cases: &[(&str, Vec<Value>)] = &[
            (".spec.replicas", vec![json!(3)]),
            ("{.spec.replicas}", vec![json!(3)]),
            ("$.metadata.name", vec![json!("x")]),
            (".metadata.labels['a.b/c']", vec![json!("d")]),
            (".spec.items[1].n", vec![json!(2)]),
            (".spec.items[-1].n", vec![json!(2)]),
            (".spec.items[*].n", vec![json!(1), json!(2)]),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                vec![json!("True")],
            ),
            (
                ".status.conditions[?(@.type=='Synced')].status",
                vec![json!("False")],
            ),
            (
                ".status.conditions[?(@.type!=\"Ready\")].type",
                vec![json!("Synced")],
            ),
            (".spec.missing", vec![]),
            (".spec.items[9]", vec![]),
            ("spec", vec![]),
            (".spec.items[?(@.n==", vec![]),
        ];
        for (path, want) in cases {
            let got: Vec<Value> = find(&obj, path).into_iter().cloned().collect();
            assert_eq!(&got, want, "{path}");
        }
    }
}
