use std::collections::BTreeMap;

/// Tag writes that make a resource's tags the desired ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagChanges {
    pub add: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl TagChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Adds missing or different tags and removes the others, except AWS's own `aws:` tags,
/// which nobody may change.
pub fn match_tags(
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> TagChanges {
    TagChanges {
        // The same rule as attributes: desired pairs that are missing or differ.
        add: super::match_attributes(desired, actual),
        remove: actual
            .keys()
            .filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:"))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::lb::matching::attributes::tests::m;

    #[test]
    fn table() {
        let cases = [
            (m(&[("a", "1")]), m(&[("a", "1")]), m(&[]), vec![]),
            (m(&[("a", "1")]), m(&[("a", "2")]), m(&[("a", "1")]), vec![]),
            (m(&[("a", "1")]), m(&[]), m(&[("a", "1")]), vec![]),
            (m(&[]), m(&[("b", "1")]), m(&[]), vec!["b"]),
            (
                m(&[]),
                m(&[("aws:cloudformation:stack", "x")]),
                m(&[]),
                vec![],
            ),
        ];
        for (desired, actual, add, remove) in cases {
            let got = match_tags(&desired, &actual);
            assert_eq!(got.add, add, "{desired:?} vs {actual:?}");
            assert_eq!(got.remove, remove, "{desired:?} vs {actual:?}");
        }
        assert!(match_tags(&m(&[("a", "1")]), &m(&[("a", "1")])).is_empty());
    }
}
