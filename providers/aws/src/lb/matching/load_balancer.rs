use cloudnet_core::IpAddressType;

use crate::lb::model::{ActualLoadBalancer, DesiredLoadBalancer};

/// What to change on a matched load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancerChanges {
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    pub ip_address_type: Option<IpAddressType>,
}

impl LoadBalancerChanges {
    pub fn is_empty(&self) -> bool {
        self.subnets.is_none() && self.security_groups.is_none() && self.ip_address_type.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancerMatch<'a> {
    Create,
    Matched {
        actual: &'a ActualLoadBalancer,
        changes: LoadBalancerChanges,
    },
    /// Same name, but a kind or scheme AWS cannot change in place. Names hash both, so this
    /// only happens when someone made the resource by hand.
    Incompatible {
        reason: String,
    },
}

/// Matches the desired load balancer with the one found under its name (already checked to
/// be ours). Subnets and security groups compare as sets; an empty desired subnet list means
/// "not resolved" and is never written.
pub fn match_load_balancer<'a>(
    desired: &DesiredLoadBalancer,
    actual: Option<&'a ActualLoadBalancer>,
) -> LoadBalancerMatch<'a> {
    let Some(actual) = actual else {
        return LoadBalancerMatch::Create;
    };
    if actual.kind.is_some_and(|k| k != desired.kind) {
        return LoadBalancerMatch::Incompatible {
            reason: format!("{} is a {:?} load balancer", actual.name, actual.kind),
        };
    }
    if actual.scheme.is_some_and(|s| s != desired.scheme) {
        return LoadBalancerMatch::Incompatible {
            reason: format!("{} has scheme {:?}", actual.name, actual.scheme),
        };
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let mut changes = LoadBalancerChanges::default();
    let want_subnets = sorted(&desired.subnets);
    if !want_subnets.is_empty() && want_subnets != sorted(&actual.subnets) {
        changes.subnets = Some(want_subnets);
    }
    let want_groups = sorted(&desired.security_groups);
    let have_groups = sorted(&actual.security_groups);
    // NLBs made without security groups cannot get any later; we never give them any.
    if want_groups != have_groups
        && !(want_groups.is_empty() && desired.kind == cloudnet_core::LoadBalancerKind::Network)
    {
        changes.security_groups = Some(want_groups);
    }
    if actual
        .ip_address_type
        .is_some_and(|t| t != desired.ip_address_type)
    {
        changes.ip_address_type = Some(desired.ip_address_type);
    }
    LoadBalancerMatch::Matched { actual, changes }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cloudnet_core::{LoadBalancerKind, Scheme};

    use super::*;

    fn desired() -> DesiredLoadBalancer {
        DesiredLoadBalancer {
            name: "k8s-a-b-0123456789".into(),
            kind: LoadBalancerKind::Application,
            scheme: Scheme::InternetFacing,
            ip_address_type: IpAddressType::Ipv4,
            subnets: vec!["s-1".into(), "s-2".into()],
            security_groups: vec!["sg-1".into(), "sg-lb".into()],
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn actual() -> ActualLoadBalancer {
        ActualLoadBalancer {
            arn: "arn:lb".into(),
            name: "k8s-a-b-0123456789".into(),
            kind: Some(LoadBalancerKind::Application),
            scheme: Some(Scheme::InternetFacing),
            ip_address_type: Some(IpAddressType::Ipv4),
            subnets: vec!["s-2".into(), "s-1".into()],
            security_groups: vec!["sg-lb".into(), "sg-1".into()],
            dns_name: None,
            vpc_id: None,
        }
    }

    /// What a case expects: the changes of a match, or that AWS cannot change it in place.
    #[derive(Debug, PartialEq)]
    enum Want {
        Changes(LoadBalancerChanges),
        Incompatible,
    }

    fn changes(f: impl FnOnce(&mut LoadBalancerChanges)) -> Want {
        let mut c = LoadBalancerChanges::default();
        f(&mut c);
        Want::Changes(c)
    }

    #[test]
    fn table() {
        type Case = (
            &'static str,
            fn(&mut DesiredLoadBalancer),
            fn(&mut ActualLoadBalancer),
            Want,
        );
        let cases: Vec<Case> = vec![
            (
                "in sync, order does not matter",
                |_| {},
                |_| {},
                changes(|_| {}),
            ),
            (
                "a subnet added",
                |d| d.subnets.push("s-3".into()),
                |_| {},
                changes(|c| c.subnets = Some(vec!["s-1".into(), "s-2".into(), "s-3".into()])),
            ),
            (
                "a group dropped",
                |d| d.security_groups.retain(|g| g != "sg-1"),
                |_| {},
                changes(|c| c.security_groups = Some(vec!["sg-lb".into()])),
            ),
            (
                "unresolved subnets are never written",
                |d| d.subnets.clear(),
                |_| {},
                changes(|_| {}),
            ),
            (
                "duplicates compare as a set",
                |d| d.subnets.push("s-1".into()),
                |a| a.security_groups.push("sg-1".into()),
                changes(|_| {}),
            ),
            (
                "an NLB without groups is never given an empty list",
                |d| {
                    d.kind = LoadBalancerKind::Network;
                    d.security_groups.clear();
                },
                |a| a.kind = Some(LoadBalancerKind::Network),
                changes(|_| {}),
            ),
            (
                "IP address type",
                |d| d.ip_address_type = IpAddressType::Dualstack,
                |_| {},
                changes(|c| c.ip_address_type = Some(IpAddressType::Dualstack)),
            ),
            (
                "an unknown IP address type is left",
                |_| {},
                |a| a.ip_address_type = None,
                changes(|_| {}),
            ),
            (
                "scheme",
                |d| d.scheme = Scheme::Internal,
                |_| {},
                Want::Incompatible,
            ),
            (
                "kind",
                |d| d.kind = LoadBalancerKind::Network,
                |_| {},
                Want::Incompatible,
            ),
        ];
        for (name, change_desired, change_actual, want) in cases {
            let mut d = desired();
            change_desired(&mut d);
            let mut a = actual();
            change_actual(&mut a);
            let got = match match_load_balancer(&d, Some(&a)) {
                LoadBalancerMatch::Matched { actual, changes } => {
                    assert_eq!(actual, &a, "{name}");
                    Want::Changes(changes)
                }
                LoadBalancerMatch::Incompatible { .. } => Want::Incompatible,
                LoadBalancerMatch::Create => panic!("{name}: an actual one is never created"),
            };
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(
            match_load_balancer(&desired(), None),
            LoadBalancerMatch::Create
        );
    }
}
