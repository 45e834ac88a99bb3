use std::collections::BTreeSet;

use crate::lb::model::SgRule;

/// Permissions to authorize and to revoke.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SgRuleChanges {
    pub authorize: Vec<SgRule>,
    pub revoke: Vec<SgRule>,
}

impl SgRuleChanges {
    pub fn is_empty(&self) -> bool {
        self.authorize.is_empty() && self.revoke.is_empty()
    }
}

/// Authorizes what is missing; revokes what is there and not desired, but only rules that
/// `manages` says are ours (on a shared group, such as the nodes', every other rule belongs to
/// someone else).
pub fn match_sg_rules(
    desired: &BTreeSet<SgRule>,
    actual: &[SgRule],
    manages: impl Fn(&SgRule) -> bool,
) -> SgRuleChanges {
    let actual_set: BTreeSet<&SgRule> = actual.iter().collect();
    SgRuleChanges {
        authorize: desired
            .iter()
            .filter(|r| !actual_set.contains(r))
            .cloned()
            .collect(),
        revoke: actual_set
            .into_iter()
            .filter(|r| !desired.contains(*r) && manages(r))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::model::SgSource;

    fn rule(port: i32, source: SgSource) -> SgRule {
        SgRule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            source,
        }
    }

    #[test]
    fn table() {
        let ours = |r: &SgRule| r.source == SgSource::Group("sg-lb".into());
        let lb = || SgSource::Group("sg-lb".into());
        let other = || SgSource::Group("sg-other".into());
        let cidr = || SgSource::Cidr("0.0.0.0/0".into());
        type Case = (BTreeSet<SgRule>, Vec<SgRule>, Vec<SgRule>, Vec<SgRule>);
        let cases: Vec<Case> = vec![
            // In sync.
            (
                BTreeSet::from([rule(80, lb())]),
                vec![rule(80, lb()), rule(22, other())],
                vec![],
                vec![],
            ),
            // Missing, and a stale one of ours; someone else's stays.
            (
                BTreeSet::from([rule(80, lb())]),
                vec![rule(81, lb()), rule(80, other()), rule(443, cidr())],
                vec![rule(80, lb())],
                vec![rule(81, lb())],
            ),
            // Nothing desired: only ours go.
            (
                BTreeSet::new(),
                vec![rule(80, lb()), rule(80, cidr())],
                vec![],
                vec![rule(80, lb())],
            ),
        ];
        for (desired, actual, authorize, revoke) in cases {
            let got = match_sg_rules(&desired, &actual, ours);
            assert_eq!(got.authorize, authorize, "{desired:?} vs {actual:?}");
            assert_eq!(got.revoke, revoke, "{desired:?} vs {actual:?}");
        }
        // A group we manage whole: everything undesired goes.
        let got = match_sg_rules(&BTreeSet::new(), &[rule(80, cidr())], |_| true);
        assert_eq!(got.revoke, vec![rule(80, cidr())]);
    }
}
