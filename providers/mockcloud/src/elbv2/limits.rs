//! DescribeAccountLimits (the quotas this state enforces, under AWS's limit names) and
//! DescribeSSLPolicies (the predefined policy names listeners accept).

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::Elbv2;
use super::listeners::SSL_POLICIES;

impl Elbv2 {
    pub(super) fn describe_account_limits(&self, _params: &Params) -> Result<Xml, AwsError> {
        let q = &self.config.quotas;
        let limits = [
            ("application-load-balancers", q.load_balancers),
            ("network-load-balancers", q.load_balancers),
            ("gateway-load-balancers", q.load_balancers),
            ("target-groups", q.target_groups),
            (
                "listeners-per-application-load-balancer",
                q.listeners_per_load_balancer,
            ),
            (
                "listeners-per-network-load-balancer",
                q.listeners_per_load_balancer,
            ),
            ("rules-per-application-load-balancer", q.rules_per_listener),
            (
                "targets-per-application-load-balancer",
                q.targets_per_target_group,
            ),
            (
                "targets-per-network-load-balancer",
                q.targets_per_target_group,
            ),
            (
                "target-groups-per-action-on-application-load-balancer",
                q.target_groups_per_action,
            ),
            ("condition-values-per-alb-rule", q.condition_values_per_rule),
            (
                "certificates-per-application-load-balancer",
                q.certificates_per_listener,
            ),
        ];
        let mut x = Xml::new();
        x.list("Limits", "member", limits, |x, (name, max)| {
            x.leaf("Name", name).leaf("Max", max);
        });
        Ok(x)
    }

    pub(super) fn describe_ssl_policies(&self, params: &Params) -> Result<Xml, AwsError> {
        let names = params.list("Names.member");
        for n in &names {
            if !SSL_POLICIES.contains(n) {
                return Err(AwsError::client(
                    "SSLPolicyNotFound",
                    format!("SSL policy '{n}' not found"),
                ));
            }
        }
        let chosen: Vec<&str> = if names.is_empty() {
            SSL_POLICIES.to_vec()
        } else {
            names
        };
        let mut x = Xml::new();
        x.list("SslPolicies", "member", chosen, |x, name| {
            let protocols: &[&str] = if name.contains("TLS13-1-3") {
                &["TLSv1.3"]
            } else if name.contains("TLS13") {
                &["TLSv1.2", "TLSv1.3"]
            } else {
                &["TLSv1.2"]
            };
            x.list("SslProtocols", "member", protocols, |x, p| {
                x.text(p);
            });
            x.leaf("Name", name);
            x.list(
                "SupportedLoadBalancerTypes",
                "member",
                ["application", "network"],
                |x, t| {
                    x.text(t);
                },
            );
        });
        Ok(x)
    }
}
