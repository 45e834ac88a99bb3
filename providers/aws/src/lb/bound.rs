//! Members of target groups the suite does not own ([`BoundGroup`]): a target group created
//! outside Kubernetes, bound to a Service port. The group is read (its type), never changed;
//! only the caller's own members are registered and deregistered.

use cloudnet_core::{BoundGroup, Error, Result, Target, TargetKind, TargetSync};

use super::convert::actual_target_group;
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, GroupRef};

/// The ELBv2 name of a target kind.
fn aws_target_type(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::PodIp => "ip",
        TargetKind::NodePort => "instance",
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        code: "TargetGroupNotFound".into(),
        message: format!("target group {id} does not exist"),
    }
}

/// Checks a bound group's type against the binding's: the pure half of [`AwsProvider::sync_bound`].
fn check_type(group: &BoundGroup, actual: Option<&str>) -> Result<GroupRef> {
    let want = aws_target_type(group.target_kind);
    match actual {
        Some(t) if t == want => Ok(GroupRef {
            arn: group.id.clone(),
            target_type: want.to_string(),
        }),
        Some(t) => Err(Error::InvalidInput {
            code: "TargetTypeMismatch".into(),
            message: format!(
                "target group {} takes {t} targets, the binding registers {want} targets",
                group.id
            ),
        }),
        None => Err(Error::InvalidInput {
            code: "TargetTypeMismatch".into(),
            message: format!("target group {} names no target type", group.id),
        }),
    }
}

impl AwsProvider {
    pub(crate) async fn sync_bound(
        &self,
        group: &BoundGroup,
        targets: &[Target],
        managed: &[Target],
    ) -> Result<TargetSync> {
        if !group.id.starts_with("arn:") {
            return Err(Error::InvalidInput {
                code: "ValidationError".into(),
                message: format!("{:?} is not a target group ARN", group.id),
            });
        }
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::DescribeTargetGroups, || {
                elb.describe_target_groups()
                    .target_group_arns(&group.id)
                    .send()
            })
            .await;
        let found = match out {
            Ok(o) => o.target_groups().iter().find_map(actual_target_group),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let found = found.ok_or_else(|| not_found(&group.id))?;
        let gref = check_type(group, found.target_type.as_deref())?;
        match self.sync_members(&gref, targets, Some(managed)).await {
            Err(Error::NotFound { .. }) => Err(not_found(&group.id)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_must_take_the_bindings_target_type() {
        let ip = BoundGroup {
            id: "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/x/1".into(),
            target_kind: TargetKind::PodIp,
        };
        assert_eq!(check_type(&ip, Some("ip")).expect("ip").target_type, "ip");
        let e = check_type(&ip, Some("instance")).expect_err("instance");
        assert_eq!(e.code(), "TargetTypeMismatch");
        assert_eq!(
            e.to_string(),
            "invalid input (TargetTypeMismatch): target group arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/x/1 takes instance targets, the binding registers ip targets"
        );
        assert_eq!(
            check_type(&ip, Some("lambda")).expect_err("lambda").code(),
            "TargetTypeMismatch"
        );
        assert!(check_type(&ip, None).is_err());
    }
}
