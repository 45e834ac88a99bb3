use crate::lb::model::{ActualRule, DesiredRule};

use super::{Matching, match_by_key};

/// What differs on a matched rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleChanges {
    pub conditions: bool,
    pub action: bool,
}

impl RuleChanges {
    pub fn is_empty(&self) -> bool {
        !(self.conditions || self.action)
    }
}

/// Matches by priority (unique per listener on both sides); a pair drifts when its
/// conditions or action differ, and is then modified in place. `desired` actions must be
/// resolved to target group ARNs; `actual` holds no default rule.
pub fn match_rules<'a>(
    desired: &'a [DesiredRule],
    actual: &'a [ActualRule],
) -> Matching<'a, DesiredRule, ActualRule, RuleChanges> {
    match_by_key(
        desired,
        actual,
        |d| d.priority,
        |a| a.priority,
        |d, a| RuleChanges {
            conditions: d.conditions != a.conditions,
            action: a.actions.as_slice() != std::slice::from_ref(&d.action),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::model::{ElbAction, ElbCondition, TargetGroupWeight};

    fn fwd(arn: &str) -> ElbAction {
        ElbAction::forward(vec![TargetGroupWeight {
            target_group: arn.into(),
            weight: 1,
        }])
    }

    fn path(p: &str) -> Vec<ElbCondition> {
        vec![ElbCondition::new("path-pattern", [p.to_string()])]
    }

    fn d(priority: i32, p: &str, tg: &str) -> DesiredRule {
        DesiredRule {
            priority,
            conditions: path(p),
            action: fwd(tg),
        }
    }

    fn a(priority: i32, p: &str, tg: &str) -> ActualRule {
        ActualRule {
            arn: format!("arn:r/{priority}"),
            priority,
            conditions: path(p),
            actions: vec![fwd(tg)],
        }
    }

    #[test]
    fn table() {
        let desired = [
            d(1, "/a", "tg1"),
            d(2, "/b", "tg2"),
            d(3, "/c", "tg1"),
            d(4, "/d", "tg1"),
        ];
        let actual = [
            a(1, "/a", "tg1"),
            a(2, "/b", "tg1"),
            a(3, "/x", "tg1"),
            a(9, "/z", "tg1"),
        ];
        let m = match_rules(&desired, &actual);
        let drift: Vec<_> = m
            .matched
            .iter()
            .map(|p| (p.desired.priority, p.changes.conditions, p.changes.action))
            .collect();
        assert_eq!(
            drift,
            vec![(1, false, false), (2, false, true), (3, true, false)]
        );
        assert_eq!(
            m.create.iter().map(|r| r.priority).collect::<Vec<_>>(),
            vec![4]
        );
        assert_eq!(
            m.delete.iter().map(|r| r.priority).collect::<Vec<_>>(),
            vec![9]
        );
    }

    #[test]
    fn a_rule_with_extra_actions_drifts() {
        let desired = [d(1, "/a", "tg1")];
        let mut extra = a(1, "/a", "tg1");
        extra.actions.insert(0, fwd("tg0"));
        let actual = [extra];
        let changes = match_rules(&desired, &actual).matched[0].changes;
        assert!(changes.action && !changes.conditions);
    }
}
