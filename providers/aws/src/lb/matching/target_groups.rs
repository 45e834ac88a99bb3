use crate::lb::model::{ActualTargetGroup, DesiredTargetGroup, HealthCheckSettings};

use super::{Matching, match_by_key};

/// What to change on a matched target group (protocol, port and type are in its name, so
/// they never differ on a match).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroupChanges {
    pub health_check: Option<HealthCheckSettings>,
}

impl TargetGroupChanges {
    pub fn is_empty(&self) -> bool {
        self.health_check.is_none()
    }
}

/// Matches by name. `actual` must hold only groups with our ownership tags: whatever is
/// unmatched there is deleted.
pub fn match_target_groups<'a>(
    desired: &'a [DesiredTargetGroup],
    actual: &'a [ActualTargetGroup],
) -> Matching<'a, DesiredTargetGroup, ActualTargetGroup, TargetGroupChanges> {
    match_by_key(
        desired,
        actual,
        |d| d.name.clone(),
        |a| a.name.clone(),
        |d, a| TargetGroupChanges {
            health_check: (d.health_check != a.health_check).then(|| d.health_check.clone()),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn hc(interval: i32) -> HealthCheckSettings {
        HealthCheckSettings {
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: Some("/".into()),
            interval_seconds: interval,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: Some("200".into()),
        }
    }

    fn d(name: &str, interval: i32) -> DesiredTargetGroup {
        DesiredTargetGroup {
            key: name.into(),
            name: name.into(),
            protocol: "HTTP".into(),
            port: 80,
            target_type: "ip".into(),
            health_check: hc(interval),
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn a(name: &str, interval: i32) -> ActualTargetGroup {
        ActualTargetGroup {
            arn: format!("arn:{name}"),
            name: name.into(),
            protocol: Some("HTTP".into()),
            port: Some(80),
            target_type: Some("ip".into()),
            health_check: hc(interval),
            load_balancer_arns: vec![],
        }
    }

    #[test]
    fn table() {
        type Case = (
            &'static str,
            Vec<DesiredTargetGroup>,
            Vec<ActualTargetGroup>,
            // matched names with their health check drift, created, deleted
            Vec<(&'static str, Option<i32>)>,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "in sync",
                vec![d("one", 15)],
                vec![a("one", 15)],
                vec![("one", None)],
                vec![],
                vec![],
            ),
            (
                "health check drift is modified in place",
                vec![d("one", 15)],
                vec![a("one", 30)],
                vec![("one", Some(15))],
                vec![],
                vec![],
            ),
            (
                "new and stale",
                vec![d("one", 15), d("three", 15)],
                vec![a("one", 15), a("old", 15)],
                vec![("one", None)],
                vec!["three"],
                vec!["old"],
            ),
            (
                "nothing exists yet",
                vec![d("one", 15), d("two", 15)],
                vec![],
                vec![],
                vec!["one", "two"],
                vec![],
            ),
            (
                "nothing wanted any more",
                vec![],
                vec![a("one", 15), a("two", 15)],
                vec![],
                vec![],
                vec!["one", "two"],
            ),
        ];
        for (name, desired, actual, matched, create, delete) in cases {
            let m = match_target_groups(&desired, &actual);
            let got: Vec<(&str, Option<i32>)> = m
                .matched
                .iter()
                .map(|p| {
                    (
                        p.desired.name.as_str(),
                        p.changes.health_check.as_ref().map(|h| h.interval_seconds),
                    )
                })
                .collect();
            assert_eq!(got, matched, "{name}");
            let created: Vec<&str> = m.create.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(created, create, "{name}");
            let deleted: Vec<&str> = m.delete.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(deleted, delete, "{name}");
            let drifted = matched.iter().filter(|(_, h)| h.is_some()).count();
            assert_eq!(
                m.drifted(TargetGroupChanges::is_empty).count(),
                drifted,
                "{name}"
            );
        }
    }

    #[test]
    fn a_duplicate_actual_is_surplus() {
        let desired = [d("one", 15)];
        let mut dup = a("one", 15);
        dup.arn = "arn:one-again".into();
        let actual = [a("one", 15), dup];
        let m = match_target_groups(&desired, &actual);
        assert_eq!(m.matched.len(), 1);
        assert_eq!(
            m.matched[0].actual.arn, "arn:one",
            "the first listed survives"
        );
        assert_eq!(
            m.delete.iter().map(|t| t.arn.as_str()).collect::<Vec<_>>(),
            vec!["arn:one-again"]
        );
    }
}
