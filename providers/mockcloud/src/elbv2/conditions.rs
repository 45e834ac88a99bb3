//! Rule conditions: host-header, path-pattern, http-header, http-request-method, query-string,
//! source-ip.
//!
//! ELBv2 API reference (`RuleCondition` and the `*ConditionConfig` shapes): the legacy
//! `Values` form takes one value and only for host-header and path-pattern; host names use
//! `A-Z a-z 0-9 - .` and the `*`/`?` wildcards, at most 128 characters; paths also
//! `_ $ / ~ " ' @ : + &`; header names at most 40 characters; methods `A-Z _ -`, at most 40;
//! query-string keys and values at most 128; source-ip takes CIDRs. A rule has at most one
//! host-header, path-pattern, http-request-method and source-ip condition, and at most 5
//! condition values in all (Application Load Balancer quotas: "Condition values per rule").

use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::errors::{not_in_enum, validation};

const FIELDS: [&str; 6] = [
    "http-header",
    "http-request-method",
    "host-header",
    "path-pattern",
    "query-string",
    "source-ip",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryPair {
    pub key: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub field: String,
    /// The values of every field but query-string (whose pairs are in `query`).
    pub values: Vec<String>,
    pub http_header_name: Option<String>,
    pub query: Vec<QueryPair>,
}

impl Condition {
    /// How many values this condition counts toward the per-rule quota.
    fn value_count(&self) -> usize {
        self.values.len() + self.query.len()
    }
}

fn config_name(field: &str) -> &'static str {
    match field {
        "host-header" => "HostHeaderConfig",
        "path-pattern" => "PathPatternConfig",
        "http-header" => "HttpHeaderConfig",
        "http-request-method" => "HttpRequestMethodConfig",
        "query-string" => "QueryStringConfig",
        _ => "SourceIpConfig",
    }
}

/// Parses and checks `Conditions.member.N`. `required` is true for CreateRule (at least one
/// condition); ModifyRule may leave conditions out.
pub(super) fn parse_conditions(
    params: &Params,
    max_values: usize,
) -> Result<Vec<Condition>, AwsError> {
    let mut out: Vec<Condition> = Vec::new();
    for (i, c) in params.structs("Conditions.member").iter().enumerate() {
        let field = c.get("Field").unwrap_or_default();
        if !FIELDS.contains(&field) {
            return Err(not_in_enum(
                field,
                &format!("conditions.{}.member.field", i + 1),
                &FIELDS,
            ));
        }
        let cond = parse_one(field, c)?;
        let single = !matches!(field, "http-header" | "query-string");
        if single && out.iter().any(|o| o.field == field) {
            return Err(validation(format!(
                "A rule can have only one '{field}' condition"
            )));
        }
        out.push(cond);
    }
    let total: usize = out.iter().map(Condition::value_count).sum();
    if total > max_values {
        return Err(validation(format!(
            "A rule can only have '{max_values}' condition values"
        )));
    }
    Ok(out)
}

fn parse_one(field: &str, c: &Params) -> Result<Condition, AwsError> {
    let legacy = c.list("Values.member");
    let config = c.sub(config_name(field));
    if !legacy.is_empty() && !config.is_empty() {
        return Err(validation(format!(
            "You cannot specify both 'Values' and '{}' for a '{field}' condition",
            config_name(field)
        )));
    }
    let mut cond = Condition {
        field: field.to_string(),
        values: Vec::new(),
        http_header_name: None,
        query: Vec::new(),
    };
    if !legacy.is_empty() {
        if !matches!(field, "host-header" | "path-pattern") {
            return Err(validation(format!(
                "The 'Values' field is not supported for '{field}' conditions; use {}",
                config_name(field)
            )));
        }
        if legacy.len() > 1 {
            return Err(validation(format!(
                "A '{field}' condition given with 'Values' can have only one value"
            )));
        }
        cond.values = legacy.into_iter().map(str::to_string).collect();
    } else if field == "query-string" {
        for q in config.structs("Values.member") {
            let key = q.get("Key").map(str::to_string);
            let value = q.get("Value").unwrap_or_default().to_string();
            if value.is_empty() {
                return Err(validation("A query-string condition value cannot be empty"));
            }
            if key.as_ref().is_some_and(|k| k.chars().count() > 128) || value.chars().count() > 128
            {
                return Err(validation(
                    "Query-string keys and values must be at most 128 characters",
                ));
            }
            cond.query.push(QueryPair { key, value });
        }
    } else {
        cond.values = config
            .list("Values.member")
            .into_iter()
            .map(str::to_string)
            .collect();
        if field == "http-header" {
            let name = config.get("HttpHeaderName").unwrap_or_default();
            let ok = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
            if !ok {
                return Err(validation(format!(
                    "HTTP header name '{name}' is not valid: 1 to 40 characters of A-Z, a-z, 0-9, '-' and '_'"
                )));
            }
            cond.http_header_name = Some(name.to_string());
        }
    }
    if cond.values.is_empty() && cond.query.is_empty() {
        return Err(validation(format!(
            "A '{field}' condition must have at least one value"
        )));
    }
    for v in &cond.values {
        check_value(field, v)?;
    }
    Ok(cond)
}

fn check_value(field: &str, v: &str) -> Result<(), AwsError> {
    let ok = match field {
        "host-header" => {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.*?".contains(c))
        }
        "path-pattern" => {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c))
        }
        "http-header" => !v.is_empty() && v.chars().count() <= 128,
        "http-request-method" => {
            !v.is_empty()
                && v.len() <= 40
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || "_-".contains(c))
        }
        // source-ip
        _ => v.parse::<ipnet::IpNet>().is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "Condition value '{v}' is not valid for a '{field}' condition"
        )))
    }
}

pub(super) fn write_conditions(x: &mut Xml, conditions: &[Condition]) {
    x.list("Conditions", "member", conditions, |x, c| {
        x.leaf("Field", &c.field);
        let strings = |x: &mut Xml, values: &[String]| {
            x.list("Values", "member", values, |x, v| {
                x.text(v);
            });
        };
        if matches!(c.field.as_str(), "host-header" | "path-pattern") {
            strings(x, &c.values);
        }
        x.elem(config_name(&c.field), |x| {
            if let Some(name) = &c.http_header_name {
                x.leaf("HttpHeaderName", name);
            }
            if c.field == "query-string" {
                x.list("Values", "member", &c.query, |x, q| {
                    x.opt_leaf("Key", q.key.as_deref()).leaf("Value", &q.value);
                });
            } else {
                strings(x, &c.values);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Vec<Condition>, AwsError> {
        parse_conditions(&Params::from_pairs(pairs.iter().copied()), 5)
    }

    #[test]
    fn parses_every_field() {
        let c = parse(&[
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "*.example.com",
            ),
            ("Conditions.member.2.Field", "path-pattern"),
            ("Conditions.member.2.Values.member.1", "/api/*"),
            ("Conditions.member.3.Field", "http-header"),
            (
                "Conditions.member.3.HttpHeaderConfig.HttpHeaderName",
                "X-Env",
            ),
            (
                "Conditions.member.3.HttpHeaderConfig.Values.member.1",
                "prod",
            ),
            ("Conditions.member.4.Field", "query-string"),
            (
                "Conditions.member.4.QueryStringConfig.Values.member.1.Key",
                "v",
            ),
            (
                "Conditions.member.4.QueryStringConfig.Values.member.1.Value",
                "2",
            ),
            ("Conditions.member.5.Field", "source-ip"),
            (
                "Conditions.member.5.SourceIpConfig.Values.member.1",
                "10.0.0.0/8",
            ),
        ])
        .unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c[2].http_header_name.as_deref(), Some("X-Env"));
        assert_eq!(c[3].query[0].key.as_deref(), Some("v"));
    }

    #[test]
    fn refuses_bad_conditions() {
        let cases: &[&[(&str, &str)]] = &[
            &[
                ("Conditions.member.1.Field", "cookie"),
                ("Conditions.member.1.Values.member.1", "x"),
            ],
            &[
                ("Conditions.member.1.Field", "host-header"),
                ("Conditions.member.1.Values.member.1", "bad_host"),
            ],
            &[
                ("Conditions.member.1.Field", "source-ip"),
                (
                    "Conditions.member.1.SourceIpConfig.Values.member.1",
                    "10.0.0.300/8",
                ),
            ],
            &[
                ("Conditions.member.1.Field", "http-request-method"),
                (
                    "Conditions.member.1.HttpRequestMethodConfig.Values.member.1",
                    "get",
                ),
            ],
            &[
                ("Conditions.member.1.Field", "source-ip"),
                ("Conditions.member.1.Values.member.1", "10.0.0.0/8"),
            ],
            &[("Conditions.member.1.Field", "path-pattern")],
            &[
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/a"),
                ("Conditions.member.2.Field", "path-pattern"),
                ("Conditions.member.2.Values.member.1", "/b"),
            ],
        ];
        for case in cases {
            assert_eq!(parse(case).unwrap_err().code, "ValidationError", "{case:?}");
        }
    }

    #[test]
    fn counts_values_across_conditions() {
        let mut pairs = vec![(
            "Conditions.member.1.Field".to_string(),
            "path-pattern".to_string(),
        )];
        for i in 1..=6 {
            pairs.push((
                format!("Conditions.member.1.PathPatternConfig.Values.member.{i}"),
                format!("/p{i}"),
            ));
        }
        let e = parse_conditions(&Params::from_pairs(pairs), 5).unwrap_err();
        assert_eq!(e.message, "A rule can only have '5' condition values");
    }
}
