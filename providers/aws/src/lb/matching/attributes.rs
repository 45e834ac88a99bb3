use std::collections::BTreeMap;

/// The attributes to write: desired keys whose actual value differs or is missing. Keys we do
/// not set are left at whatever AWS (or the user) has.
pub fn match_attributes(
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A map of the `pairs`.
    pub(in crate::lb::matching) fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table() {
        let cases = [
            (m(&[]), m(&[("a", "1")]), m(&[])),
            (m(&[("a", "1")]), m(&[("a", "1"), ("b", "2")]), m(&[])),
            (m(&[("a", "1")]), m(&[("a", "2")]), m(&[("a", "1")])),
            (m(&[("a", "1")]), m(&[]), m(&[("a", "1")])),
        ];
        for (desired, actual, want) in cases {
            assert_eq!(
                match_attributes(&desired, &actual),
                want,
                "{desired:?} vs {actual:?}"
            );
        }
    }
}
