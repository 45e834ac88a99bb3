//! The pure half of `ensure`: what of a load balancer is compared ([`projection`]) and what
//! to change ([`diff`] -> [`ChangeSet`]).

use std::collections::BTreeMap;

use azure_mgmt_network::models::{LoadBalancer, SubResource};
use serde_json::{Value, json};

/// What `ensure` has to do, from [`diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeSet {
    /// Create the public IP, or update the suite's own (its DNS label changed).
    pub put_public_ip: bool,
    pub put_load_balancer: bool,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        !self.put_public_ip && !self.put_load_balancer
    }
}

pub(crate) fn tags_of(v: &Option<Value>) -> BTreeMap<String, String> {
    v.as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The parts of a load balancer `ensure` decides on, IDs lower-cased (ARM compares them
/// without case), read-only and server-filled fields left out.
pub fn projection(lb: &LoadBalancer) -> Value {
    let lower = |s: &Option<SubResource>| {
        s.as_ref()
            .and_then(|s| s.id.as_deref())
            .map(str::to_lowercase)
    };
    let p = lb.properties.clone().unwrap_or_default();
    json!({
        "sku": lb.sku.as_ref().and_then(|s| s.name.as_ref()).map(|n| format!("{n:?}")),
        "tags": tags_of(&lb.resource.tags),
        "frontends": p.frontend_ip_configurations.iter().map(|f| {
            let fp = f.properties.clone().unwrap_or_default();
            json!([
                f.name,
                fp.public_ip_address.and_then(|p| p.resource.id).map(|s| s.to_lowercase()),
                fp.subnet.and_then(|s| s.sub_resource.id).map(|s| s.to_lowercase()),
            ])
        }).collect::<Vec<_>>(),
        "pools": p.backend_address_pools.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "rules": p.load_balancing_rules.iter().map(|r| {
            let rp = r.properties.as_ref();
            json!([
                r.name,
                rp.map(|p| format!("{:?}", p.protocol)),
                rp.map(|p| p.frontend_port),
                rp.and_then(|p| p.backend_port),
                rp.and_then(|p| lower(&p.frontend_ip_configuration)),
                rp.and_then(|p| lower(&p.backend_address_pool)),
                rp.and_then(|p| lower(&p.probe)),
                rp.and_then(|p| p.idle_timeout_in_minutes),
            ])
        }).collect::<Vec<_>>(),
        "probes": p.probes.iter().map(|r| {
            let pp = r.properties.as_ref();
            json!([
                r.name,
                pp.map(|p| format!("{:?}", p.protocol)),
                pp.map(|p| p.port),
                pp.and_then(|p| p.request_path.clone()),
                pp.and_then(|p| p.interval_in_seconds),
                pp.and_then(|p| p.number_of_probes),
            ])
        }).collect::<Vec<_>>(),
    })
}

/// The public IP as observed, for [`diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicIpSeen {
    pub exists: bool,
    /// Carries this cluster's tags (else it is the user's: used, never changed).
    pub owned: bool,
    /// Its DNS label is the one asked for.
    pub dns_label_matches: bool,
}

impl PublicIpSeen {
    /// Whether the public IP is written: created when missing, the suite's own updated when
    /// its DNS label differs, a user's never.
    pub fn needs_put(&self, needed: bool) -> bool {
        needed && (!self.exists || (self.owned && !self.dns_label_matches))
    }
}

pub fn diff(
    observed: Option<&LoadBalancer>,
    desired: &LoadBalancer,
    needs_public_ip: bool,
    public_ip: PublicIpSeen,
) -> ChangeSet {
    // What to change to go from the observed resources to the desired ones.
    ChangeSet {
        put_public_ip: public_ip.needs_put(needs_public_ip),
        put_load_balancer: observed.is_none_or(|o| projection(o) != projection(desired)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::sub;
    use azure_mgmt_network::models::{
        LoadBalancerPropertiesFormat, LoadBalancingRule, LoadBalancingRulePropertiesFormat,
        Resource, TransportProtocol,
    };

    fn lb(
        rules: &[(&str, i32)],
        tags: serde_json::Value,
        pool_id_case_upper: bool,
    ) -> LoadBalancer {
        let pool = if pool_id_case_upper {
            "/X/BACKENDADDRESSPOOLS/P"
        } else {
            "/x/backendAddressPools/p"
        };
        LoadBalancer {
            resource: Resource {
                tags: Some(tags),
                ..Default::default()
            },
            properties: Some(LoadBalancerPropertiesFormat {
                load_balancing_rules: rules
                    .iter()
                    .map(|(n, port)| LoadBalancingRule {
                        name: Some((*n).to_string()),
                        properties: Some(LoadBalancingRulePropertiesFormat {
                            backend_address_pool: sub(pool.into()),
                            ..LoadBalancingRulePropertiesFormat::new(TransportProtocol::Tcp, *port)
                        }),
                        ..Default::default()
                    })
                    .collect(),
                provisioning_state: None,
                ..Default::default()
            }),
            etag: Some("W/\"1\"".into()),
            ..Default::default()
        }
    }

    #[test]
    fn diff_writes_only_what_differs() {
        let want = lb(&[("rule-tcp-80", 80)], json!({"a": "b"}), false);
        // Nothing there: create both.
        assert_eq!(
            diff(None, &want, true, PublicIpSeen::default()),
            ChangeSet {
                put_public_ip: true,
                put_load_balancer: true
            }
        );
        let seen = |owned, dns_label_matches| PublicIpSeen {
            exists: true,
            owned,
            dns_label_matches,
        };
        // The user's public IP is used as it is; ours follows the DNS label.
        assert!(!diff(None, &want, true, seen(false, false)).put_public_ip);
        assert!(diff(None, &want, true, seen(true, false)).put_public_ip);
        // The same, IDs in another case, an ETag: nothing to do.
        let have = lb(&[("rule-tcp-80", 80)], json!({"a": "b"}), true);
        assert!(diff(Some(&have), &want, true, seen(true, true)).is_empty());
        // A port, a rule or a tag changed: one PUT.
        for have in [
            lb(&[("rule-tcp-80", 81)], json!({"a": "b"}), false),
            lb(&[], json!({"a": "b"}), false),
            lb(&[("rule-tcp-80", 80)], json!({"a": "c"}), false),
        ] {
            assert_eq!(
                diff(Some(&have), &want, false, PublicIpSeen::default()),
                ChangeSet {
                    put_public_ip: false,
                    put_load_balancer: true
                }
            );
        }
    }
}
