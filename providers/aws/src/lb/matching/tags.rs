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
        add: desired
            .iter()
            .filter(|(k, v)| actual.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
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

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
