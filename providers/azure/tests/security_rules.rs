//! A Service load balancer's allow rules on the cluster's network security group, against
//! the mock cloud's ARM port: AKS's NSG on the node subnet holding two rules of someone
//! else's, the calls of the provider's one network client counted.

mod common;
#[path = "support/lb_world.rs"]
mod lb_world;

use azure_mgmt_network::models::{NetworkSecurityGroup, SecurityRule};
use cloudnet_azure::client::network_client;
use cloudnet_azure::error::from_azure;
use cloudnet_azure::lb::security_rules::{MAX_RULES, MIN_PRIORITY, RuleChange};
use cloudnet_core::{ErrorKind, Limit, LoadBalancerSpec, LoadBalancers, Scheme};
use common::{service, start, wide_budget};
use lb_world::LbWorld;
use serde_json::{Value, json};

const NSG: &str = "aks-agentpool-12345678-nsg";
const NSG_WRITE: &str = "Microsoft.Network/networkSecurityGroups/write";

/// Someone else's Inbound rule (the user's, AKS's).
fn foreign_rule(name: &str, priority: i32, port: &str) -> Value {
    json!({"name": name, "properties": {
        "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": priority,
        "sourceAddressPrefix": "10.0.0.0/8", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": port,
    }})
}

/// The mock's AKS world (its NSG on the node subnet) with the user's rules at 500 and 502.
async fn world() -> LbWorld {
    let w = LbWorld::on(start(|w| *w = w.clone().with_node_nsg()).await).await;
    let mut nsg = w.nsg().await;
    nsg.properties
        .get_or_insert_with(Default::default)
        .security_rules = vec![
        serde_json::from_value(foreign_rule("allow-ssh-from-corp", 500, "22")).unwrap(),
        serde_json::from_value(foreign_rule("allow-metrics", 502, "9100")).unwrap(),
    ];
    w.operator_put_nsg(nsg).await.expect("the user's rules");
    w
}

impl LbWorld {
    async fn nsg(&self) -> NetworkSecurityGroup {
        self.client
            .network_security_groups_client()
            .get(&self.cfg.resource_group, NSG, &self.cfg.subscription)
            .await
            .unwrap()
    }

    /// A PUT of the NSG by someone else (its own client: the provider's counts stay).
    async fn operator_put_nsg(&self, mut nsg: NetworkSecurityGroup) -> cloudnet_core::Result<()> {
        let (client, _) = network_client(&self.cfg, wide_budget()).unwrap();
        nsg.etag = None;
        client
            .network_security_groups_client()
            .create_or_update(&self.cfg.resource_group, NSG, nsg, &self.cfg.subscription)
            .await
            .map(|_| ())
            .map_err(|e| from_azure(&e))
    }

    /// The NSG's rules as (name, priority, JSON of the rule without its ETag and state).
    async fn rules(&self) -> Vec<(String, i32, Value)> {
        self.nsg()
            .await
            .properties
            .unwrap_or_default()
            .security_rules
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap();
                v.as_object_mut().unwrap().remove("etag");
                v["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("provisioningState");
                (
                    r.name.clone().unwrap_or_default(),
                    r.properties.as_ref().map_or(0, |p| p.priority),
                    v,
                )
            })
            .collect()
    }

    fn nsg_writes(&self) -> u64 {
        self.policy.counts.of(NSG_WRITE)
    }
}

fn names(rules: &[(String, i32, Value)]) -> Vec<(&str, i32)> {
    rules.iter().map(|(n, p, _)| (n.as_str(), *p)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_rules_are_made_once_restored_after_drift_and_deleted_alone() {
    let w = world().await;
    let spec = service("web", Scheme::InternetFacing);
    let lb = w.lbs.name(&spec.owner);
    let (tcp, udp) = (format!("{lb}-TCP"), format!("{lb}-UDP"));
    let foreign_before = w.rules().await;
    assert_eq!(foreign_before.len(), 2);

    // Made: the public IP, the load balancer and one NSG write with both rules, at the first
    // free priorities from 500 (the user's hold 500 and 502).
    let before = w.mutating();
    w.lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 3, "public IP, load balancer, NSG");
    assert_eq!(w.nsg_writes(), 1);
    let made = w.rules().await;
    assert_eq!(
        names(&made),
        [
            ("allow-ssh-from-corp", 500),
            ("allow-metrics", 502),
            (tcp.as_str(), 501),
            (udp.as_str(), 503),
        ]
    );
    assert_eq!(
        made[..2],
        foreign_before[..],
        "the user's rules are untouched"
    );
    let p = &made[2].2["properties"];
    assert_eq!(
        (
            &p["protocol"],
            &p["access"],
            &p["direction"],
            &p["sourceAddressPrefix"],
            &p["destinationAddressPrefix"],
            &p["destinationPortRange"]
        ),
        (
            &json!("Tcp"),
            &json!("Allow"),
            &json!("Inbound"),
            &json!("Internet"),
            &json!("VirtualNetwork"),
            &json!("8080")
        ),
        "{p}"
    );
    assert_eq!(made[3].2["properties"]["destinationPortRange"], "5353");

    // Ensured again: reads only.
    let before = w.mutating();
    w.lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 0, "a second ensure");

    // Drift by hand: the TCP rule opened on another port and denied, the UDP rule deleted.
    let mut nsg = w.nsg().await;
    let rules = &mut nsg.properties.as_mut().unwrap().security_rules;
    let p = rules[2].properties.as_mut().unwrap();
    p.destination_port_range = Some("9999".into());
    p.access = azure_mgmt_network::models::SecurityRuleAccess::Deny;
    rules.remove(3);
    w.operator_put_nsg(nsg).await.unwrap();
    let plan = w
        .lbs
        .plan_security_rules(&spec, &lb)
        .await
        .unwrap()
        .expect("an NSG");
    assert_eq!(
        plan.changes,
        [
            RuleChange::Restore {
                name: tcp.clone(),
                priority: 501
            },
            RuleChange::Create {
                name: udp.clone(),
                priority: 503
            },
        ]
    );
    let before = w.mutating();
    w.lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 1, "one NSG write restores both");
    assert_eq!(
        w.rules().await,
        made,
        "restored as made, at the same priorities"
    );

    // Deleted: one NSG write without the Service's rules; the user's as they were.
    let id = w.lbs.ensure(&spec).await.unwrap().id;
    let before = w.nsg_writes();
    w.lbs.delete(&id).await.unwrap();
    assert_eq!(w.nsg_writes() - before, 1);
    assert_eq!(w.rules().await, foreign_before);
    w.lbs.delete(&id).await.unwrap();
    assert_eq!(w.nsg_writes() - before, 1, "a second delete writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_take_distinct_priorities_without_meeting_each_others_writes() {
    let w = world().await;
    // Two of one shape, so their steps run side by side up to the NSG.
    let web = service("web", Scheme::Internal);
    let mut api = service("api", Scheme::Internal);
    api.source_ranges = vec![
        "203.0.113.0/24".parse().unwrap(),
        "10.0.0.0/8".parse().unwrap(),
    ];
    // Both at once: the writes to the one NSG are serialised, so neither meets a 412.
    let (a, b) = tokio::join!(w.lbs.ensure(&web), w.lbs.ensure(&api));
    a.unwrap();
    b.unwrap();
    assert_eq!(w.nsg_writes(), 2, "{:?}", w.policy.counts.snapshot());
    let rules = w.rules().await;
    assert_eq!(rules.len(), 6, "{:?}", names(&rules));
    let mut priorities: Vec<i32> = rules.iter().map(|(_, p, _)| *p).collect();
    priorities.sort();
    assert_eq!(priorities, [500, 501, 502, 503, 504, 505]);
    let api_tcp = &rules
        .iter()
        .find(|(n, _, _)| *n == format!("{}-TCP", w.lbs.name(&api.owner)))
        .expect("api's TCP rule")
        .2["properties"];
    assert_eq!(
        api_tcp["sourceAddressPrefixes"],
        json!(["10.0.0.0/8", "203.0.113.0/24"])
    );
    // Deleting one leaves the other's rules as they are.
    let others: Vec<_> = rules
        .iter()
        .filter(|(n, _, _)| !n.starts_with(&w.lbs.name(&web.owner)))
        .cloned()
        .collect();
    let id = w.lbs.ensure(&web).await.unwrap().id;
    w.lbs.delete(&id).await.unwrap();
    assert_eq!(w.rules().await, others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_network_security_group_is_a_clear_error_before_any_write() {
    let w = world().await;
    // The user fills the NSG to Azure's 1,000 rules; ARM refuses one more.
    let mut nsg = w.nsg().await;
    let full: Vec<SecurityRule> = (0..MAX_RULES as i32)
        .map(|i| serde_json::from_value(foreign_rule(&format!("r{i}"), 100 + i, "22")).unwrap())
        .collect();
    nsg.properties.as_mut().unwrap().security_rules = full.clone();
    w.operator_put_nsg(nsg.clone()).await.unwrap();
    let mut over = nsg.clone();
    over.properties
        .as_mut()
        .unwrap()
        .security_rules
        .push(serde_json::from_value(foreign_rule("one-more", 4000, "22")).unwrap());
    let refused = w.operator_put_nsg(over).await.unwrap_err();
    assert_eq!(refused.code(), "SecurityRuleCountLimitReached");

    let spec: LoadBalancerSpec = service("web", Scheme::InternetFacing);
    let before = w.nsg_writes();
    let err = w.lbs.ensure(&spec).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::LimitExceeded(Limit::SecurityGroupRules)
    );
    assert_eq!(err.code(), "SecurityRuleCountLimitReached");
    assert!(err.to_string().contains("1000"), "{err}");
    assert_eq!(w.nsg_writes() - before, 0, "nothing written to a full NSG");
    assert_eq!(w.rules().await.len(), MAX_RULES);

    // Room made (one rule of the user's removed): the next ensure takes the freed place's
    // first free priority from 500.
    let mut room = w.nsg().await;
    let rules = &mut room.properties.as_mut().unwrap().security_rules;
    rules.retain(|r| r.name.as_deref() != Some("r450"));
    w.operator_put_nsg(room).await.unwrap();
    let mut tcp_only = spec.clone();
    tcp_only.listeners.pop();
    tcp_only.groups.pop();
    w.lbs.ensure(&tcp_only).await.unwrap();
    let lb = w.lbs.name(&spec.owner);
    let rules = w.rules().await;
    assert_eq!(rules.len(), MAX_RULES);
    assert_eq!(
        rules.last().map(|(n, p, _)| (n.as_str(), *p)),
        Some((format!("{lb}-TCP").as_str(), MIN_PRIORITY + 50))
    );
}
