//! Annotation families read the way the AWS Load Balancer Controller reads them, so manifests
//! written for it work unchanged: the Service family (`service.beta.kubernetes.io/aws-load-balancer-*`)
//! and the Ingress family (`alb.ingress.kubernetes.io/*`).
//!
//! Value types follow its parser: `stringList` is comma-separated with blanks dropped,
//! `stringMap` is `k1=v1,k2=v2` (a `\` escapes the next character), booleans are Go's
//! `strconv.ParseBool` spellings. Every key of a family's checked prefix is checked against
//! its supported and not-supported lists: an unknown key or a key we do not support yet is an
//! error, never silently ignored, so a user never believes a setting took effect when it did
//! not.

use std::collections::BTreeMap;
use std::fmt;

/// One family of annotations: where its keys live and which of them cloudnet reads.
#[derive(Debug)]
pub struct Family {
    /// Keys are `prefix` + a suffix; readers take the suffix.
    pub prefix: &'static str,
    /// Suffixes that start with this are checked for spelling and support (`""`: all).
    pub checked: &'static str,
    /// Suffixes cloudnet reads.
    pub supported: &'static [&'static str],
    /// Suffix beginnings under which any key is read (`actions.`, `conditions.`).
    pub supported_prefixes: &'static [&'static str],
    /// Suffixes of the anchor that cloudnet recognises but does not carry out yet.
    pub not_supported: &'static [&'static str],
}

impl Family {
    fn is_supported(&self, suffix: &str) -> bool {
        self.supported.contains(&suffix)
            || self
                .supported_prefixes
                .iter()
                .any(|p| suffix.starts_with(p) && suffix.len() > p.len())
    }

    /// The supported key nearest to a misspelt one (at most 3 edits away).
    fn closest(&self, suffix: &str) -> Option<&'static str> {
        self.supported
            .iter()
            .map(|k| (edit_distance(suffix, k), *k))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, k)| k)
    }
}

/// One annotation that cannot be used, with why. Its `Display` is the text of the Warning
/// Event and of the Service's condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// The full annotation key.
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "annotation {}: {:?}: {}",
            self.key, self.value, self.reason
        )
    }
}

impl std::error::Error for AnnotationError {}

/// An object's annotations of one family with the AWS Load Balancer Controller's typed readers. Reading a
/// value that does not parse records an error and answers `None`, so one pass reports every
/// bad annotation at once.
pub struct Annotations<'a> {
    family: &'static Family,
    map: &'a BTreeMap<String, String>,
    errors: Vec<AnnotationError>,
}

impl<'a> Annotations<'a> {
    /// Starts reading and checks the family's keys for spelling and support.
    pub fn new(family: &'static Family, map: &'a BTreeMap<String, String>) -> Annotations<'a> {
        let mut errors = Vec::new();
        for (key, value) in map {
            let Some(suffix) = key.strip_prefix(family.prefix) else {
                continue;
            };
            if !suffix.starts_with(family.checked) || family.is_supported(suffix) {
                continue;
            }
            let reason = if family.not_supported.contains(&suffix) {
                "recognised, but not supported by cloudnet yet; remove it or expect no effect \
                 (the load balancer is left unchanged until then)"
                    .to_string()
            } else {
                match family.closest(suffix) {
                    Some(near) => {
                        format!("unknown annotation (did you mean {}{near}?)", family.prefix)
                    }
                    None => "unknown annotation".to_string(),
                }
            };
            errors.push(AnnotationError {
                key: key.clone(),
                value: value.clone(),
                reason,
            });
        }
        Annotations {
            family,
            map,
            errors,
        }
    }

    /// Every key of the family that starts with `start` (after the prefix), as (suffix, value).
    pub fn with_prefix(&self, start: &str) -> Vec<(&'a str, &'a str)> {
        self.map
            .iter()
            .filter_map(|(k, v)| {
                let suffix = k.strip_prefix(self.family.prefix)?;
                suffix.starts_with(start).then_some((suffix, v.as_str()))
            })
            .collect()
    }

    /// Every error found so far, in key order.
    pub fn finish(mut self) -> Vec<AnnotationError> {
        self.errors.sort_by(|a, b| a.key.cmp(&b.key));
        self.errors.dedup();
        self.errors
    }

    /// Records an error against an annotation (for checks that need more than its own value).
    pub fn reject(&mut self, suffix: &str, reason: impl Into<String>) {
        let key = format!("{}{suffix}", self.family.prefix);
        let value = self.map.get(&key).cloned().unwrap_or_default();
        self.errors.push(AnnotationError {
            key,
            value,
            reason: reason.into(),
        });
    }

    pub fn has(&self, suffix: &str) -> bool {
        self.raw(suffix).is_some()
    }

    pub fn raw(&self, suffix: &str) -> Option<&'a str> {
        self.map
            .get(&format!("{}{suffix}", self.family.prefix))
            .map(String::as_str)
    }

    pub fn string(&self, suffix: &str) -> Option<String> {
        self.raw(suffix).map(|s| s.trim().to_string())
    }

    /// One of `choices`, compared without regard to case; answers the choice as listed.
    pub fn choice(&mut self, suffix: &str, choices: &[&'static str]) -> Option<&'static str> {
        let raw = self.raw(suffix)?;
        let found = choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(raw.trim()))
            .copied();
        if found.is_none() {
            self.reject(suffix, format!("must be one of {}", choices.join(", ")));
        }
        found
    }

    /// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
    pub fn boolean(&mut self, suffix: &str) -> Option<bool> {
        let raw = self.raw(suffix)?;
        match raw {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => {
                self.reject(suffix, "must be true or false");
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn int(&mut self, suffix: &str, min: u32, max: u32) -> Option<u32> {
        let raw = self.raw(suffix)?;
        match raw.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            Ok(_) => {
                self.reject(suffix, format!("must be between {min} and {max}"));
                None
            }
            Err(_) => {
                self.reject(suffix, "must be a whole number");
                None
            }
        }
    }

    /// `stringList`: comma-separated, blanks dropped.
    pub fn list(&self, suffix: &str) -> Option<Vec<String>> {
        self.raw(suffix).map(split_list)
    }

    /// `stringMap`: `k1=v1,k2=v2`; a `\` escapes the next character; keys must not be empty.
    pub fn map(&mut self, suffix: &str) -> Option<BTreeMap<String, String>> {
        let raw = self.raw(suffix)?;
        match parse_map(raw) {
            Ok(m) => Some(m),
            Err(why) => {
                self.reject(suffix, why);
                None
            }
        }
    }
}

/// `stringList` as the AWS Load Balancer Controller splits it.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `stringMap` as the AWS Load Balancer Controller splits it: pairs are separated by commas
/// that are followed by another `key=`; a trailing part without `=` is an error.
pub fn parse_map(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    current.push(next);
                }
            }
            ',' => {
                let rest = raw[i + 1..].trim();
                if rest.contains('=') {
                    pairs.push(current.trim().to_string());
                    current.clear();
                } else if !rest.is_empty() {
                    pairs.push(current.trim().to_string());
                    pairs.push(rest.to_string());
                    current.clear();
                    break;
                } else {
                    current.push(c);
                }
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        pairs.push(current.trim().to_string());
    }
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=value"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{pair:?} has an empty key"));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_maps_split_like_the_anchor() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Result<Pairs, ()>)] = &[
            ("a=1,b=2", Ok(&[("a", "1"), ("b", "2")])),
            (" a = 1 , b=2 ", Ok(&[("a", "1"), ("b", "2")])),
            // A comma separates whenever anything after it has a `=`, so a bare `v2` is an error.
            ("k=v1,v2,b=3", Err(())),
            ("a=1,", Ok(&[("a", "1,")])),
            ("k=a\\,b", Ok(&[("k", "a,b")])),
            (
                "deregistration_delay.timeout_seconds=120",
                Ok(&[("deregistration_delay.timeout_seconds", "120")]),
            ),
            ("empty=", Ok(&[("empty", "")])),
            ("a=1,novalue", Err(())),
            ("=1", Err(())),
            ("novalue", Err(())),
        ];
        for (raw, want) in cases {
            let got = parse_map(raw);
            match want {
                Ok(pairs) => {
                    let want: BTreeMap<String, String> = pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(got.as_ref(), Ok(&want), "{raw}");
                }
                Err(()) => assert!(got.is_err(), "{raw} should fail, got {got:?}"),
            }
        }
    }

    #[test]
    fn lists_drop_blanks() {
        assert_eq!(split_list(" a, ,b,,c "), vec!["a", "b", "c"]);
        assert!(split_list(" , ").is_empty());
    }
}
