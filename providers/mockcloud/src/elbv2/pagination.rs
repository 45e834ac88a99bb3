//! `Marker` / `PageSize` / `NextMarker` paging of the Describe actions.
//!
//! ELBv2 pages DescribeLoadBalancers, DescribeTargetGroups, DescribeListeners and
//! DescribeRules with `PageSize` (1..=400, API model `PageSize` range) and an opaque `Marker`;
//! the answer carries `NextMarker` only when more results remain. The marker here names the
//! creation sequence number of the next item, so pages stay stable while resources come and go.

use crate::awserror::AwsError;
use crate::query::Params;

use super::errors::{int_in, validation};

pub(super) const MAX_PAGE_SIZE: i64 = 400;

pub(super) struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

/// Pages `items` (any order) by their sequence numbers.
pub(super) fn paginate<T>(
    mut items: Vec<T>,
    seq: impl Fn(&T) -> u64,
    params: &Params,
) -> Result<Page<T>, AwsError> {
    let page_size = int_in(params, "PageSize", 1, MAX_PAGE_SIZE)?.unwrap_or(MAX_PAGE_SIZE);
    let page_size = usize::try_from(page_size).unwrap_or(1);
    items.sort_by_key(|t| seq(t));
    let start = match params.get("Marker") {
        None | Some("") => 0,
        Some(m) => {
            let from = parse_marker(m)?;
            items.partition_point(|t| seq(t) < from)
        }
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next_marker = if rest.len() > page_size {
        let next = seq(&rest[page_size]);
        rest.truncate(page_size);
        Some(format!("mkr-{next:08x}"))
    } else {
        None
    };
    Ok(Page {
        items: rest,
        next_marker,
    })
}

fn parse_marker(m: &str) -> Result<u64, AwsError> {
    m.strip_prefix("mkr-")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| validation(format!("The marker '{m}' is not valid")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(items: &[u64], size: &str, marker: Option<&str>) -> Result<Page<u64>, AwsError> {
        let mut pairs = vec![("PageSize".to_string(), size.to_string())];
        if let Some(m) = marker {
            pairs.push(("Marker".into(), m.into()));
        }
        paginate(items.to_vec(), |x| *x, &Params::from_pairs(pairs))
    }

    #[test]
    fn walks_pages_with_next_marker() {
        let all = [5, 1, 3, 2, 4];
        let p1 = page(&all, "2", None).unwrap();
        assert_eq!(p1.items, vec![1, 2]);
        let p2 = page(&all, "2", p1.next_marker.as_deref()).unwrap();
        assert_eq!(p2.items, vec![3, 4]);
        let p3 = page(&all, "2", p2.next_marker.as_deref()).unwrap();
        assert_eq!(p3.items, vec![5]);
        assert!(p3.next_marker.is_none());
    }

    #[test]
    fn rejects_bad_sizes_and_markers() {
        assert_eq!(page(&[1], "0", None).err().unwrap().code, "ValidationError");
        assert_eq!(
            page(&[1], "401", None).err().unwrap().code,
            "ValidationError"
        );
        assert_eq!(
            page(&[1], "5", Some("garbage")).err().unwrap().code,
            "ValidationError"
        );
    }
}
