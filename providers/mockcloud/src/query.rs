//! The AWS query protocol's request side: a form-encoded body of `Action`, `Version` and
//! flattened parameters (`Name.1`, `Filter.1.Value.2`, `Listeners.member.1.Port`, ...).
//!
//! Both EC2 (the `ec2` flavour, lists as `Name.N`) and ELBv2 (the `query` flavour, lists as
//! `Name.member.N`) use this one parser; the flavour only changes the prefix a caller passes.

use std::collections::BTreeMap;

use crate::awserror::AwsError;

/// The parameters of one query-protocol request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body (or query string).
    pub fn parse(body: &[u8]) -> Params {
        let map = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params { map }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The request's `Action`.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// A parameter the action cannot do without (`MissingParameter` when absent or empty).
    pub fn required(&self, key: &str) -> Result<&str, AwsError> {
        match self.get(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(AwsError::missing_parameter(key)),
        }
    }

    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, AwsError> {
        self.get(key)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    AwsError::invalid_parameter_value(format!(
                        "Value ({v}) for parameter {key} is invalid. Expected a number."
                    ))
                })
            })
            .transpose()
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, AwsError> {
        self.get(key)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(AwsError::invalid_parameter_value(format!(
                    "Value ({v}) for parameter {key} is invalid. Expected a boolean."
                ))),
            })
            .transpose()
    }

    /// The indices `N` present under `prefix.N` or `prefix.N.*`, ascending.
    fn indices(&self, prefix: &str) -> Vec<u32> {
        let dotted = format!("{prefix}.");
        let mut out: Vec<u32> = self
            .map
            .range(dotted.clone()..)
            .take_while(|(k, _)| k.starts_with(&dotted))
            .filter_map(|(k, _)| k[dotted.len()..].split('.').next()?.parse().ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// A list of scalars: `prefix.1`, `prefix.2`, ... in index order (EC2 passes
    /// `"PrivateIpAddress"`, ELBv2 passes `"Names.member"`).
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        self.indices(prefix)
            .into_iter()
            .filter_map(|i| self.get(&format!("{prefix}.{i}")))
            .collect()
    }

    /// A list of structures: `prefix.N.Field...`, each returned with `prefix.N.` stripped.
    pub fn structs(&self, prefix: &str) -> Vec<Params> {
        self.indices(prefix)
            .into_iter()
            .map(|i| self.sub(&format!("{prefix}.{i}")))
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The parameters under `prefix.` with the prefix stripped (a nested structure).
    pub fn sub(&self, prefix: &str) -> Params {
        let dotted = format!("{prefix}.");
        Params {
            map: self
                .map
                .range(dotted.clone()..)
                .take_while(|(k, _)| k.starts_with(&dotted))
                .map(|(k, v)| (k[dotted.len()..].to_string(), v.clone()))
                .collect(),
        }
    }

    /// EC2 filters: `Filter.N.Name` with `Filter.N.Value.M`.
    pub fn filters(&self) -> Vec<Filter> {
        self.structs("Filter")
            .into_iter()
            .filter_map(|f| {
                Some(Filter {
                    name: f.get("Name")?.to_string(),
                    values: f.list("Value").into_iter().map(str::to_string).collect(),
                })
            })
            .collect()
    }

    /// Tags given as `prefix.N.Key` / `prefix.N.Value` (EC2 `Tag`, ELBv2 `Tags.member`).
    pub fn tags(&self, prefix: &str) -> Vec<(String, String)> {
        self.structs(prefix)
            .into_iter()
            .filter_map(|t| {
                Some((
                    t.get("Key")?.to_string(),
                    t.get("Value").unwrap_or_default().to_string(),
                ))
            })
            .collect()
    }
}

/// One EC2 `Filter`: a name and the values any of which may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    /// True when `value` matches one of the filter's values; `*` and `?` are wildcards, as
    /// in EC2's filters.
    pub fn matches(&self, value: &str) -> bool {
        self.values
            .iter()
            .any(|pattern| wildcard_match(pattern, value))
    }
}

/// EC2-style wildcard matching: `*` any run, `?` any one character.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_structs_filters_and_tags() {
        let p = Params::parse(
            b"Action=DescribeNetworkInterfaces&Version=2016-11-15\
              &Filter.1.Name=tag%3Acluster&Filter.1.Value.1=a&Filter.1.Value.2=b\
              &Filter.2.Name=status&Filter.2.Value.1=available\
              &Names.member.2=second&Names.member.1=first&Names.member.10=tenth\
              &TagSpecification.1.ResourceType=network-interface\
              &TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v%20w",
        );
        assert_eq!(p.action(), Some("DescribeNetworkInterfaces"));
        assert_eq!(p.list("Names.member"), vec!["first", "second", "tenth"]);
        let f = p.filters();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "tag:cluster");
        assert_eq!(f[0].values, vec!["a", "b"]);
        let specs = p.structs("TagSpecification");
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].get("ResourceType"), Some("network-interface"));
        assert_eq!(specs[0].tags("Tag"), vec![("k".into(), "v w".into())]);
    }

    #[test]
    fn typed_values_reject_garbage_with_aws_codes() {
        let p = Params::from_pairs([("Count", "x"), ("Flag", "maybe"), ("Empty", "")]);
        assert_eq!(
            p.get_i64("Count").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            p.get_bool("Flag").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(p.required("Empty").unwrap_err().code, "MissingParameter");
        assert_eq!(p.get_i64("Absent").unwrap(), None);
    }

    #[test]
    fn wildcards_match_like_ec2() {
        assert!(wildcard_match("eni-*", "eni-0abc"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("x", "xy"));
    }
}
