//! What every `Describe*` shares: EC2 filters (`Filter.N.Name` / `Filter.N.Value.M`, `*` and
//! `?` wildcards, values ORed, filters ANDed, `tag:KEY` / `tag-key` / `tag-value` on every
//! resource) and `MaxResults` / `NextToken` pagination.

use crate::awserror::AwsError;
use crate::query::{Filter, Params};

use super::Tags;

/// A resource that `Describe*` filters can look into.
pub trait Filterable {
    /// The values of a named filter for this resource; empty when it has none.
    fn filter_values(&self, name: &str) -> Vec<String>;
    fn tags(&self) -> &Tags;
}

/// The filters of a request, checked against the names the action supports (AWS answers an
/// unknown filter with `InvalidParameterValue`).
pub fn filters(p: &Params, known: &[&str]) -> Result<Vec<Filter>, AwsError> {
    let filters = p.filters();
    for f in &filters {
        let ok = known.contains(&f.name.as_str())
            || f.name.starts_with("tag:")
            || f.name == "tag-key"
            || f.name == "tag-value";
        if !ok {
            return Err(AwsError::invalid_parameter_value(format!(
                "The filter '{}' is invalid",
                f.name
            )));
        }
    }
    Ok(filters)
}

pub fn matches(item: &impl Filterable, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let values: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
            item.tags().get(key).cloned().into_iter().collect()
        } else if f.name == "tag-key" {
            item.tags().keys().cloned().collect()
        } else if f.name == "tag-value" {
            item.tags().values().cloned().collect()
        } else {
            item.filter_values(&f.name)
        };
        values.iter().any(|v| f.matches(v))
    })
}

/// One page of results and the token for the next.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Pagination as EC2 does it: without `MaxResults` everything comes back at once; with it,
/// `MaxResults` must be within `5..=max` and cannot be combined with explicit ids, and a
/// `NextToken` continues after the last item of the previous page. `key` gives each item's
/// stable sort key (its id); items must already be in that order.
pub fn paginate<T>(
    items: Vec<T>,
    p: &Params,
    max: i64,
    with_ids: bool,
    key: impl Fn(&T) -> &str,
) -> Result<Page<T>, AwsError> {
    let max_results = p.get_i64("MaxResults")?;
    let token = p.get("NextToken").filter(|t| !t.is_empty());
    if max_results.is_some() && with_ids {
        return Err(AwsError::client(
            "InvalidParameterCombination",
            "The parameter MaxResults cannot be used with the parameter that lists resource ids",
        ));
    }
    let start_after = match token {
        Some(t) => Some(decode_token(t).ok_or_else(|| {
            AwsError::invalid_parameter_value(format!("Invalid value '{t}' for NextToken"))
        })?),
        None => None,
    };
    let mut items: Vec<T> = match &start_after {
        Some(after) => items
            .into_iter()
            .filter(|i| key(i) > after.as_str())
            .collect(),
        None => items,
    };
    let Some(n) = max_results else {
        return Ok(Page {
            items,
            next_token: None,
        });
    };
    if !(5..=max).contains(&n) {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({n}) for parameter maxResults is invalid. Expecting a value between 5 and {max}."
        )));
    }
    let n = n as usize;
    let next_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|last| encode_token(key(last)))
    } else {
        None
    };
    Ok(Page { items, next_token })
}

fn encode_token(last: &str) -> String {
    let mut s = String::from("mc1");
    for b in last.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn decode_token(t: &str) -> Option<String> {
    let hex = t.strip_prefix("mc1")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The explicit ids of a request (`NetworkInterfaceId.N`, ...), and an error when one of them
/// does not exist (EC2 fails the whole call rather than leaving it out).
pub fn check_ids(
    ids: &[&str],
    exists: impl Fn(&str) -> bool,
    not_found: impl Fn(&str) -> AwsError,
) -> Result<(), AwsError> {
    let missing: Vec<&str> = ids.iter().copied().filter(|id| !exists(id)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(not_found(&missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_token(&encode_token("eni-01")).as_deref(),
            Some("eni-01")
        );
        assert_eq!(decode_token("garbage"), None);
        assert_eq!(decode_token("mc1zz"), None);
    }

    #[test]
    fn pages_continue_after_the_last_id() {
        let items: Vec<String> = (0..12).map(|i| format!("x-{i:02}")).collect();
        let p = Params::from_pairs([("MaxResults", "5")]);
        let page = paginate(items.clone(), &p, 1000, false, |s| s.as_str()).unwrap();
        assert_eq!(page.items.len(), 5);
        let tok = page.next_token.unwrap();
        let p2 = Params::from_pairs([("MaxResults", "5"), ("NextToken", tok.as_str())]);
        let page2 = paginate(items.clone(), &p2, 1000, false, |s| s.as_str()).unwrap();
        assert_eq!(page2.items[0], "x-05");
        let bad = Params::from_pairs([("MaxResults", "4")]);
        assert!(paginate(items, &bad, 1000, false, |s| s.as_str()).is_err());
    }
}
