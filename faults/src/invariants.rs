//! The invariants, checked on every sample of every scenario from sources that do not trust
//! each other, and at teardown:
//!
//! | name | holds when |
//! |---|---|
//! | `unique_addresses` | no address is held by two pods, over the API's pods, every ipamd's allocations and every checkpoint |
//! | `address_on_node` | every Running pod's address is on an interface attached to its node's instance, in the cloud |
//! | `ownership` | nothing without this cluster's ownership mark (tags; on GCP the description) was created, changed or deleted (the state dump against the first one), and the cloud refused no call (IAM) |
//! | `no_stale_targets` | no target stays registered for an address no live pod has for longer than the grace period |
//! | `no_leftovers` | after teardown: nothing of the cluster's in the cloud (AWS: no load balancer, target group or security group, no detached interface; GCP and Azure: no resource marked as the cluster's), no address held in any ipamd |
//!
//! A violation is kept with the first sample it was seen at; a scenario passes when none was
//! seen.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::observe::{Call, Snapshot};

pub const NAMES: [&str; 5] = [
    "unique_addresses",
    "address_on_node",
    "ownership",
    "no_stale_targets",
    "no_leftovers",
];

/// The invariants' findings over a run.
#[derive(Debug, Default)]
pub struct Checker {
    /// Resources without the cluster's tags, as first seen, normalised.
    foreign: BTreeMap<String, Value>,
    /// When each target address was first seen registered with no live pod behind it.
    stale_since: BTreeMap<String, Instant>,
    pub target_grace: Duration,
    /// Invariant -> the first messages of its violations.
    pub violations: BTreeMap<&'static str, Vec<String>>,
    pub samples: usize,
}

impl Checker {
    pub fn new(target_grace: Duration) -> Checker {
        Checker {
            target_grace,
            ..Checker::default()
        }
    }

    fn violate(&mut self, name: &'static str, msg: String) {
        let v = self.violations.entry(name).or_default();
        if v.len() < 5 && !v.contains(&msg) {
            v.push(msg);
        }
    }

    /// Takes the foreign resources of `s` as the reference: those made before the cluster
    /// acted, and those a scenario made by hand on purpose.
    pub fn baseline_foreign(&mut self, s: &Snapshot) {
        self.foreign = s.provider.foreign_resources(&s.cloud);
    }

    /// Adds a resource made by hand (someone else's) to the reference, as it is in `s`.
    pub fn adopt_foreign(&mut self, s: &Snapshot, id: &str) {
        let suffix = format!("/{id}");
        for (k, v) in s.provider.foreign_resources(&s.cloud) {
            if k.ends_with(&suffix) {
                self.foreign.insert(k, v);
            }
        }
    }

    /// Drops a resource from the reference: its owner deletes it.
    pub fn forget_foreign(&mut self, id: &str) {
        let suffix = format!("/{id}");
        self.foreign.retain(|k, _| !k.ends_with(&suffix));
    }

    /// Checks one sample.
    pub fn check(&mut self, s: &Snapshot) {
        self.samples += 1;
        self.unique_addresses(s);
        self.address_on_node(s);
        self.ownership(s);
        self.stale_targets(s);
    }

    /// Checks the calls made since the last sample.
    pub fn check_calls(&mut self, calls: &[Call]) {
        for c in calls.iter().filter(|c| c.denied) {
            self.violate(
                "ownership",
                format!(
                    "the cloud refused {} by {} (seq {})",
                    c.call, c.caller, c.seq
                ),
            );
        }
    }

    fn unique_addresses(&mut self, s: &Snapshot) {
        let mut holders: BTreeMap<Ipv4Addr, BTreeSet<(String, String)>> = BTreeMap::new();
        for p in s.pods.iter().filter(|p| p.running && !p.deleting) {
            if let Some(ip) = p.ip {
                holders
                    .entry(ip)
                    .or_default()
                    .insert((p.key.clone(), "api".into()));
            }
        }
        let sources = s
            .ipamd
            .iter()
            .map(|(n, a)| (format!("ipamd {n}"), a))
            .chain(
                s.checkpoints
                    .iter()
                    .map(|(n, a)| (format!("checkpoint {n}"), a)),
            );
        for (source, allocs) in sources {
            for (ip, pod) in allocs.iter().flatten() {
                holders
                    .entry(*ip)
                    .or_default()
                    .insert((pod.clone(), source.clone()));
            }
        }
        for (ip, h) in holders {
            let pods: BTreeSet<&String> = h.iter().map(|(p, _)| p).collect();
            if pods.len() > 1 {
                self.violate(
                    "unique_addresses",
                    format!("{ip} is held by {} pods: {h:?}", pods.len()),
                );
            }
        }
    }

    fn address_on_node(&mut self, s: &Snapshot) {
        let mut bad = Vec::new();
        for p in s
            .pods
            .iter()
            .filter(|p| p.running && !p.deleting && p.ip.is_some())
        {
            if !s.pod_has_working_address(p) {
                bad.push(format!(
                    "{} runs with {} on {}, which is not on that node's interfaces in the cloud",
                    p.key,
                    p.ip.map(|i| i.to_string()).unwrap_or_default(),
                    p.node.as_deref().unwrap_or("no node")
                ));
            }
        }
        for m in bad {
            self.violate("address_on_node", m);
        }
    }

    fn ownership(&mut self, s: &Snapshot) {
        let now = s.provider.foreign_resources(&s.cloud);
        let mut bad = Vec::new();
        for (id, before) in &self.foreign {
            match now.get(id) {
                None => bad.push(format!("{id} (not ours) was deleted")),
                Some(after) if after != before => {
                    bad.push(format!("{id} (not ours) was changed: {before} -> {after}"))
                }
                Some(_) => {}
            }
        }
        for id in now.keys().filter(|id| !self.foreign.contains_key(*id)) {
            bad.push(format!("{id} was created without the cluster's tags"));
        }
        for m in bad {
            self.violate("ownership", m);
        }
    }

    fn stale_targets(&mut self, s: &Snapshot) {
        let live: BTreeSet<String> = s
            .pods
            .iter()
            .filter(|p| !p.deleting)
            .flat_map(|p| [p.ip.map(|i| i.to_string()), s.service_target(p)])
            .flatten()
            .collect();
        let registered: BTreeSet<String> = s
            .target_groups()
            .into_values()
            .flat_map(|(t, _)| t)
            .filter(|t| t.parse::<Ipv4Addr>().is_ok())
            .collect();
        let stale: BTreeSet<String> = registered.difference(&live).cloned().collect();
        self.stale_since.retain(|t, _| stale.contains(t));
        let mut bad = Vec::new();
        for t in stale {
            let since = *self.stale_since.entry(t.clone()).or_insert(s.at);
            let age = s.at.saturating_duration_since(since);
            if age > self.target_grace {
                bad.push(format!(
                    "target {t} stayed registered {age:.1?} with no pod behind it"
                ));
            }
        }
        for m in bad {
            self.violate("no_stale_targets", m);
        }
    }

    /// After teardown: what of the cluster's is still in the cloud or held in an ipamd.
    pub fn leftovers(&mut self, s: &Snapshot) -> Vec<String> {
        let mut left = s.provider.leftovers(&s.cloud);
        for (node, allocs) in &s.ipamd {
            for (ip, pod) in allocs.iter().flatten() {
                left.push(format!("{ip} still held for {pod} by ipamd on {node}"));
            }
        }
        for m in &left {
            self.violate("no_leftovers", m.clone());
        }
        left
    }

    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::Checker;
    use crate::observe::{PodView, Snapshot};

    const OURS: &str = "cloudnet.io/cluster";

    fn pod(name: &str, ip: &str, node: &str) -> PodView {
        PodView {
            key: format!("default/{name}"),
            node: Some(node.into()),
            ip: Some(ip.parse().unwrap()),
            running: true,
            ready: true,
            deleting: false,
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        }
    }

    /// One node `n1` on instance `i-1`, whose primary interface has `addresses` as
    /// secondaries; a foreign security group; an owned target group routed by a listener of
    /// an owned load balancer with `targets`.
    fn snapshot(at: Instant, pods: Vec<PodView>, addresses: &[&str], targets: &[&str]) -> Snapshot {
        let mut ips = vec![json!({"address": "192.168.0.10", "primary": true, "visible_at_ms": 0})];
        ips.extend(
            addresses
                .iter()
                .map(|a| json!({"address": a, "primary": false, "visible_at_ms": 5})),
        );
        let targets: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .map(|t| (format!("{t}:80"), json!({"id": t, "port": 80})))
            .collect();
        Snapshot {
            at,
            provider: crate::clouds::Cloud::Aws,
            pods,
            node_instance: BTreeMap::from([("n1".to_string(), "i-1".to_string())]),
            services: BTreeMap::new(),
            ingresses: BTreeMap::new(),
            cloud: json!({
                "now_ms": 1,
                "ec2": {
                    "network_interfaces": {"eni-1": {
                        "attachment": {"instance_id": "i-1", "device_index": 0},
                        "private_ips": ips, "tags": {}
                    }},
                    "security_groups": {"sg-1": {"tags": {"Name": "nodes"}, "rules": [1]}}
                },
                "elbv2": {
                    "load_balancers": {"lb-1": {"dns_name": "x", "tags": {OURS: "faults"}}},
                    "listeners": {"l-1": {"load_balancer_arn": "lb-1", "default_actions": ["tg-1"], "tags": {}}},
                    "rules": {"r-1": {"listener_arn": "l-1", "tags": {}}},
                    "target_groups": {"tg-1": {"tags": {OURS: "faults"}, "targets": targets}}
                }
            }),
            ipamd: BTreeMap::from([(
                "n1".to_string(),
                Some(vec![(
                    "192.168.0.11".parse().unwrap(),
                    "default/a".to_string(),
                )]),
            )]),
            checkpoints: BTreeMap::new(),
        }
    }

    #[test]
    fn a_consistent_sample_breaks_nothing() {
        let mut c = Checker::new(Duration::from_secs(10));
        let s = snapshot(
            Instant::now(),
            vec![pod("a", "192.168.0.11", "n1")],
            &["192.168.0.11"],
            &["192.168.0.11"],
        );
        c.baseline_foreign(&s);
        c.check(&s);
        assert!(c.passed(), "{:?}", c.violations);
    }

    #[test]
    fn an_address_that_ipamd_gives_one_pod_and_the_api_another_is_held_twice() {
        let mut c = Checker::new(Duration::from_secs(10));
        let s = snapshot(
            Instant::now(),
            vec![pod("b", "192.168.0.11", "n1")],
            &["192.168.0.11"],
            &[],
        );
        c.baseline_foreign(&s);
        c.check(&s);
        assert_eq!(
            c.violations.keys().copied().collect::<Vec<_>>(),
            ["unique_addresses"]
        );
    }

    #[test]
    fn a_pod_address_missing_from_its_node_interface_is_found() {
        let mut c = Checker::new(Duration::from_secs(10));
        let s = snapshot(
            Instant::now(),
            vec![pod("a", "192.168.0.11", "n1")],
            &[],
            &[],
        );
        c.baseline_foreign(&s);
        c.check(&s);
        assert_eq!(
            c.violations.keys().copied().collect::<Vec<_>>(),
            ["address_on_node"]
        );
    }

    #[test]
    fn a_changed_foreign_resource_is_found_but_a_secondary_address_on_the_node_is_not() {
        let at = Instant::now();
        let mut c = Checker::new(Duration::from_secs(10));
        c.baseline_foreign(&snapshot(at, vec![], &[], &[]));
        let mut s = snapshot(at, vec![], &["192.168.0.12"], &[]);
        c.check(&s);
        assert!(c.passed(), "{:?}", c.violations);
        s.cloud["ec2"]["security_groups"]["sg-1"]["rules"] = json!([1, 2]);
        c.check(&s);
        assert!(
            c.violations["ownership"][0].contains("sg-1"),
            "{:?}",
            c.violations
        );
        let mut s = snapshot(at, vec![], &[], &[]);
        s.cloud["ec2"]["security_groups"]["sg-2"] = json!({"tags": {}});
        let mut c2 = Checker::new(Duration::from_secs(10));
        c2.baseline_foreign(&snapshot(at, vec![], &[], &[]));
        c2.check(&s);
        assert!(c2.violations["ownership"][0].contains("sg-2 was created"));
    }

    #[test]
    fn a_target_without_a_pod_is_stale_only_after_the_grace_period() {
        let t0 = Instant::now();
        let mut c = Checker::new(Duration::from_secs(10));
        c.baseline_foreign(&snapshot(t0, vec![], &[], &[]));
        c.check(&snapshot(t0, vec![], &[], &["192.168.0.99"]));
        c.check(&snapshot(
            t0 + Duration::from_secs(5),
            vec![],
            &[],
            &["192.168.0.99"],
        ));
        assert!(c.passed(), "{:?}", c.violations);
        c.check(&snapshot(
            t0 + Duration::from_secs(11),
            vec![],
            &[],
            &["192.168.0.99"],
        ));
        assert_eq!(
            c.violations.keys().copied().collect::<Vec<_>>(),
            ["no_stale_targets"]
        );
    }

    #[test]
    fn the_cluster_load_balancer_and_an_address_still_held_are_leftovers() {
        let mut c = Checker::new(Duration::from_secs(10));
        let s = snapshot(Instant::now(), vec![], &[], &[]);
        let left = c.leftovers(&s);
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.iter().any(|l| l.contains("lb-1")));
        assert!(left.iter().any(|l| l.contains("tg-1")));
        assert!(left.iter().any(|l| l.contains("192.168.0.11")));
    }
}
