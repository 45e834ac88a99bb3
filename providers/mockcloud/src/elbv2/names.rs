//! Resource names and ARNs.
//!
//! Names (CreateLoadBalancer / CreateTargetGroup `Name`, ELBv2 API reference): at most 32
//! characters, only alphanumerics and hyphens, not beginning or ending with a hyphen; a load
//! balancer name must also not begin with `internal-` (that prefix is how internal load
//! balancers' DNS names start).

use crate::awserror::AwsError;

use super::errors::validation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameKind {
    LoadBalancer,
    TargetGroup,
}

impl NameKind {
    fn label(self) -> &'static str {
        match self {
            NameKind::LoadBalancer => "Load balancer",
            NameKind::TargetGroup => "Target group",
        }
    }
}

pub(super) fn validate_name(kind: NameKind, name: &str) -> Result<(), AwsError> {
    let label = kind.label();
    if name.is_empty() {
        return Err(validation(format!("{label} name cannot be empty")));
    }
    if name.chars().count() > 32 {
        return Err(validation(format!(
            "{label} name '{name}' cannot be longer than '32' characters"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(validation(format!(
            "{label} name '{name}' can only contain characters that are alphanumeric \
             characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(validation(format!(
            "{label} name '{name}' cannot begin or end with '-'"
        )));
    }
    if kind == NameKind::LoadBalancer && name.starts_with("internal-") {
        return Err(validation(format!(
            "{label} name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

/// The kind of ELBv2 resource an ARN names, from its resource part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArnKind {
    LoadBalancer,
    TargetGroup,
    Listener,
    Rule,
}

/// Parses `arn:aws:elasticloadbalancing:<region>:<account>:<resource>` far enough to tell the
/// kind; anything else is not an ELBv2 ARN (`ValidationError`, as AWS answers
/// "'nope' is not a valid target group ARN").
pub(super) fn arn_kind(arn: &str) -> Option<ArnKind> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("elasticloadbalancing"), Some(_), Some(_)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let resource = parts.next()?;
    let kind = resource.split('/').next()?;
    match kind {
        "loadbalancer" => Some(ArnKind::LoadBalancer),
        "targetgroup" => Some(ArnKind::TargetGroup),
        "listener" => Some(ArnKind::Listener),
        "listener-rule" => Some(ArnKind::Rule),
        _ => None,
    }
}

/// Checks an ARN parameter names the expected kind of resource.
pub(super) fn expect_arn(arn: &str, kind: ArnKind) -> Result<(), AwsError> {
    if arn_kind(arn) == Some(kind) {
        return Ok(());
    }
    let what = match kind {
        ArnKind::LoadBalancer => "load balancer",
        ArnKind::TargetGroup => "target group",
        ArnKind::Listener => "listener",
        ArnKind::Rule => "listener rule",
    };
    Err(validation(format!("'{arn}' is not a valid {what} ARN")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        assert!(validate_name(NameKind::LoadBalancer, "web-1").is_ok());
        assert!(validate_name(NameKind::LoadBalancer, &"a".repeat(32)).is_ok());
        for bad in ["", "-a", "a-", "a_b", "a.b", "internal-web"] {
            let e = validate_name(NameKind::LoadBalancer, bad).unwrap_err();
            assert_eq!(e.code, "ValidationError", "{bad}");
        }
        assert!(validate_name(NameKind::LoadBalancer, &"a".repeat(33)).is_err());
        // The internal- rule is the load balancer's only.
        assert!(validate_name(NameKind::TargetGroup, "internal-web").is_ok());
    }

    #[test]
    fn arns_are_told_apart() {
        let a = "arn:aws:elasticloadbalancing:us-west-2:123456789012";
        assert_eq!(
            arn_kind(&format!("{a}:loadbalancer/app/x/0123")),
            Some(ArnKind::LoadBalancer)
        );
        assert_eq!(
            arn_kind(&format!("{a}:listener-rule/app/x/1/2/3")),
            Some(ArnKind::Rule)
        );
        assert_eq!(arn_kind("nope"), None);
        assert_eq!(arn_kind("arn:aws:ec2:us-west-2:1:instance/i-1"), None);
        assert_eq!(
            expect_arn("nope", ArnKind::TargetGroup)
                .unwrap_err()
                .message,
            "'nope' is not a valid target group ARN"
        );
    }
}
