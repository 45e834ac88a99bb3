//! Which pods wait for a readiness gate of ours, which load balancer groups each gate
//! names, and when a gate opens: the synchronous index the pod watch feeds and the pure
//! decision, tested without a server.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use cloudnet_core::{HealthState, TargetHealth};
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The condition type prefix of our readiness gates: `target-health.cloudnet.io/<name>`.
pub const GATE_PREFIX: &str = "target-health.cloudnet.io/";
/// The AWS Load Balancer Controller's prefix, accepted too so its manifests work unchanged.
pub const ANCHOR_GATE_PREFIX: &str = "target-health.elbv2.k8s.aws/";

/// The name ingress-gce's NEG readiness gate ([`crate::gce::NEG_READINESS_GATE`]) stands
/// for: every Service of the pod's namespace whose pod-IP groups have the pod as a member
/// (no Service can be named `*`).
pub const EVERY_SERVICE: &str = "*";

/// The name a readiness gate's condition type names (a TargetGroupBinding, else a
/// Service, in the pod's namespace; [`EVERY_SERVICE`] for ingress-gce's NEG gate), when the
/// gate is ours.
pub fn gate_name(condition_type: &str) -> Option<&str> {
    if condition_type == crate::gce::NEG_READINESS_GATE {
        return Some(EVERY_SERVICE);
    }
    [GATE_PREFIX, ANCHOR_GATE_PREFIX]
        .iter()
        .find_map(|p| condition_type.strip_prefix(p))
        .filter(|n| !n.is_empty())
}

/// A pod by namespace and name.
pub type PodKey = (String, String);

/// One readiness gate of ours on a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// The condition type, as the pod spells it.
    pub condition_type: String,
    /// The TargetGroupBinding or Service it names.
    pub name: String,
    /// Its condition is True.
    pub open: bool,
}

/// What the index keeps of a pod that carries a gate of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatedPod {
    pub ip: Option<IpAddr>,
    pub containers_ready: bool,
    pub deleting: bool,
    pub gates: Vec<Gate>,
}

impl GatedPod {
    /// The pod's gates of ours and its state; `None` for a pod without any.
    pub fn of(pod: &Pod) -> Option<GatedPod> {
        let conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let is_true = |kind: &str| {
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True")
        };
        let gates: Vec<Gate> = pod
            .spec
            .as_ref()
            .and_then(|s| s.readiness_gates.as_deref())
            .unwrap_or_default()
            .iter()
            .filter_map(|g| {
                Some(Gate {
                    name: gate_name(&g.condition_type)?.to_string(),
                    open: is_true(&g.condition_type),
                    condition_type: g.condition_type.clone(),
                })
            })
            .collect();
        if gates.is_empty() {
            return None;
        }
        Some(GatedPod {
            ip: pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
            containers_ready: is_true("ContainersReady"),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            gates,
        })
    }

    /// Its endpoint is a load balancer target although the pod is not Ready: its containers
    /// are, and the gate waits for the target to be healthy (the anchor's rule; without it
    /// the gate could never open).
    pub fn registrable(&self) -> bool {
        self.containers_ready && !self.deleting && self.ip.is_some()
    }

    /// Some gate of ours is still closed on a pod that can be a target.
    pub fn waiting(&self) -> bool {
        self.registrable() && self.gates.iter().any(|g| !g.open)
    }

    /// Some gate of ours is open on a pod that stays (not being deleted) and has an address:
    /// its target's health is checked again, and the gate closes when it is lost.
    pub fn open(&self) -> bool {
        !self.deleting && self.ip.is_some() && self.gates.iter().any(|g| g.open)
    }
}

/// What a load balancer group is built from, as a readiness gate names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backing {
    Service { namespace: String, name: String },
    Binding { namespace: String, name: String },
}

impl Backing {
    /// The Service a group key (`<namespace>/<name>:<port>`) is built from.
    pub fn of_group_key(key: &str) -> Option<Backing> {
        let (namespace, rest) = key.split_once('/')?;
        let (name, _) = rest.rsplit_once(':')?;
        Some(Backing::Service {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

#[derive(Default)]
struct Index {
    pods: BTreeMap<PodKey, GatedPod>,
    /// Pod-IP groups (cloud IDs) per publisher (`service <ns>/<name>`, `ingress <group>`,
    /// `binding <ns>/<name>`).
    groups: BTreeMap<String, Vec<(Backing, String)>>,
    subscribers: Vec<mpsc::UnboundedSender<Pod>>,
}

/// The shared index: the readiness controller feeds the pods, the load balancer
/// controllers publish their groups and read which not-ready endpoints are targets.
/// Cloning shares it; an index nobody feeds admits nothing and changes nothing.
#[derive(Clone, Default)]
pub struct Gates {
    inner: Arc<Mutex<Index>>,
}

impl std::fmt::Debug for Gates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gates").finish_non_exhaustive()
    }
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pod changed (or was listed). Subscribers hear of it when whether it is
    /// registrable changed.
    pub fn apply(&self, pod: &Pod) {
        let key = key_of(pod);
        let next = GatedPod::of(pod).filter(|p| !p.deleting);
        let mut index = self.lock();
        let was = index.pods.get(&key).is_some_and(GatedPod::registrable);
        let now = next.as_ref().is_some_and(GatedPod::registrable);
        match next {
            Some(p) => index.pods.insert(key, p),
            None => index.pods.remove(&key),
        };
        if was != now {
            index
                .subscribers
                .retain(|s| s.unbounded_send(pod.clone()).is_ok());
        }
    }

    /// A pod is gone.
    pub fn delete(&self, pod: &Pod) {
        let removed = self.lock().pods.remove(&key_of(pod));
        if removed.is_some_and(|p| p.registrable()) {
            self.lock()
                .subscribers
                .retain(|s| s.unbounded_send(pod.clone()).is_ok());
        }
    }

    /// A fresh full list replaces what the index held.
    pub fn reset(&self, pods: &[Pod]) {
        let before: BTreeSet<PodKey> = self.registrable_pods();
        self.lock().pods = pods
            .iter()
            .filter_map(|p| Some((key_of(p), GatedPod::of(p)?)))
            .collect();
        let after = self.registrable_pods();
        let mut index = self.lock();
        for pod in pods {
            if before.contains(&key_of(pod)) != after.contains(&key_of(pod)) {
                index
                    .subscribers
                    .retain(|s| s.unbounded_send(pod.clone()).is_ok());
            }
        }
    }

    fn registrable_pods(&self) -> BTreeSet<PodKey> {
        self.lock()
            .pods
            .iter()
            .filter(|(_, p)| p.registrable())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Pods whose registrable state changes, for a controller to map onto its objects.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Pod> {
        let (tx, rx) = mpsc::unbounded();
        self.lock().subscribers.push(tx);
        rx
    }

    /// Marks the endpoints of registrable gated pods ready in these slices (copies the
    /// caller made), so their targets are registered and the gate can open.
    pub fn admit_waiting(&self, slices: &mut [EndpointSlice]) {
        let index = self.lock();
        if index.pods.is_empty() {
            return;
        }
        for slice in slices {
            let namespace = slice.metadata.namespace.clone().unwrap_or_default();
            for ep in &mut slice.endpoints {
                let Some(pod) = ep.target_ref.as_ref().and_then(|r| r.name.clone()) else {
                    continue;
                };
                let admitted = index
                    .pods
                    .get(&(namespace.clone(), pod))
                    .is_some_and(GatedPod::registrable);
                if admitted && let Some(c) = ep.conditions.as_mut() {
                    c.ready = Some(true);
                }
            }
        }
    }

    /// `publisher`'s pod-IP groups now are `groups` (an empty list withdraws them).
    pub fn publish(&self, publisher: String, groups: Vec<(Backing, String)>) {
        let mut index = self.lock();
        if groups.is_empty() {
            index.groups.remove(&publisher);
        } else {
            index.groups.insert(publisher, groups);
        }
    }

    /// The pods some gate of ours still holds, with their gates.
    pub fn waiting(&self) -> Vec<(PodKey, GatedPod)> {
        self.lock()
            .pods
            .iter()
            .filter(|(_, p)| p.waiting())
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect()
    }

    /// The pods with an open gate of ours, with their gates.
    pub fn open(&self) -> Vec<(PodKey, GatedPod)> {
        self.lock()
            .pods
            .iter()
            .filter(|(_, p)| p.open())
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect()
    }

    /// The groups (cloud IDs) built from the Service `name` in `namespace`.
    pub fn groups_for_service(&self, namespace: &str, name: &str) -> BTreeSet<String> {
        let service = Backing::Service {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.lock()
            .groups
            .values()
            .flatten()
            .filter(|(b, _)| *b == service)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The groups (cloud IDs) a gate named `name` in `namespace` waits on: the
    /// TargetGroupBinding's group when a binding of that name published one, else every
    /// group built from the Service of that name; for [`EVERY_SERVICE`], every group built
    /// from a Service of the namespace (narrowed to the pod's by [`member_groups`]).
    pub fn groups_for(&self, namespace: &str, name: &str) -> BTreeSet<String> {
        let index = self.lock();
        let all = index.groups.values().flatten();
        if name == EVERY_SERVICE {
            return all
                .filter(
                    |(b, _)| matches!(b, Backing::Service { namespace: ns, .. } if ns == namespace),
                )
                .map(|(_, id)| id.clone())
                .collect();
        }
        let binding = Backing::Binding {
            namespace: namespace.into(),
            name: name.into(),
        };
        let bound: BTreeSet<String> = all
            .clone()
            .filter(|(b, _)| *b == binding)
            .map(|(_, id)| id.clone())
            .collect();
        if !bound.is_empty() {
            return bound;
        }
        let service = Backing::Service {
            namespace: namespace.into(),
            name: name.into(),
        };
        all.filter(|(b, _)| *b == service)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

fn key_of(pod: &Pod) -> PodKey {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// A gate opens when the pod's address is a healthy member of every group it waits on
/// (and there is at least one): `health` holds what the cloud said of each group.
pub fn gate_opens(
    ip: IpAddr,
    groups: &BTreeSet<String>,
    health: &BTreeMap<String, Vec<TargetHealth>>,
) -> bool {
    !groups.is_empty()
        && groups.iter().all(|g| {
            health.get(g).is_some_and(|members| {
                members
                    .iter()
                    .any(|m| m.target.ip == ip && m.state == HealthState::Healthy)
            })
        })
}

/// The groups a gate named `name` decides on for the pod at `ip`: all of `groups`, except
/// for [`EVERY_SERVICE`] (ingress-gce's NEG gate), which waits only on the groups the cloud
/// lists the pod in (its NEGs), as ingress-gce's readiness reflector does.
pub fn member_groups(
    name: &str,
    ip: IpAddr,
    groups: &BTreeSet<String>,
    health: &BTreeMap<String, Vec<TargetHealth>>,
) -> BTreeSet<String> {
    if name != EVERY_SERVICE {
        return groups.clone();
    }
    groups
        .iter()
        .filter(|g| {
            health
                .get(*g)
                .is_some_and(|members| members.iter().any(|m| m.target.ip == ip))
        })
        .cloned()
        .collect()
}

/// [`gate_closes`] for a gate named `name`: ingress-gce's NEG gate closes when every group
/// was read and the pod is in none of them, or lost in one it is in.
pub fn named_gate_closes(
    name: &str,
    ip: IpAddr,
    groups: &BTreeSet<String>,
    health: &BTreeMap<String, Vec<TargetHealth>>,
) -> bool {
    let mine = member_groups(name, ip, groups, health);
    if name == EVERY_SERVICE && mine.is_empty() {
        return !groups.is_empty() && groups.iter().all(|g| health.contains_key(g));
    }
    gate_closes(ip, &mine, health)
}

/// An open gate closes when every group it waits on was read and in one of them the pod's
/// address is no longer a healthy target (unhealthy, draining, registered again and not
/// yet healthy, in a group nothing sends to, or not registered at all). Groups not known
/// (none published yet, as after a restart) or not read, and a health the cloud cannot tell,
/// leave it open: only what the cloud said closes a gate.
pub fn gate_closes(
    ip: IpAddr,
    groups: &BTreeSet<String>,
    health: &BTreeMap<String, Vec<TargetHealth>>,
) -> bool {
    let lost = |members: &Vec<TargetHealth>| {
        members
            .iter()
            .find(|m| m.target.ip == ip)
            .is_none_or(|m| !matches!(m.state, HealthState::Healthy | HealthState::Unavailable))
    };
    !groups.is_empty()
        && groups.iter().all(|g| health.contains_key(g))
        && groups.iter().any(|g| health.get(g).is_some_and(lost))
}

/// The pod-IP groups of an ensured stack, with the Service each is built from (from the
/// group key), for [`Gates::publish`].
pub fn pod_ip_groups(
    spec: &cloudnet_core::LoadBalancerSpec,
    status: &cloudnet_core::LoadBalancerStatus,
) -> Vec<(Backing, String)> {
    status
        .groups
        .iter()
        .filter(|g| {
            spec.group(&g.key)
                .is_some_and(|s| s.target_kind == cloudnet_core::TargetKind::PodIp)
        })
        .filter_map(|g| Some((Backing::of_group_key(&g.key)?, g.id.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudnet_core::Target;
    use serde_json::json;

    fn pod(name: &str, gates: &[&str], open: &[&str], containers_ready: bool) -> Pod {
        let mut conditions: Vec<serde_json::Value> = open
            .iter()
            .map(|t| json!({"type": t, "status": "True"}))
            .collect();
        conditions.push(json!({"type": "ContainersReady",
            "status": if containers_ready { "True" } else { "False" }}));
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "c"}],
                "readinessGates": gates.iter().map(|g| json!({"conditionType": g})).collect::<Vec<_>>()},
            "status": {"podIP": "192.168.100.10", "conditions": conditions}
        }))
        .expect("pod")
    }

    fn slice(pod: &str, ready: bool) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.168.100.10"], "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": pod, "namespace": "shop"}}]
        }))
        .expect("slice")
    }

    fn ready_in(s: &EndpointSlice) -> Option<bool> {
        s.endpoints[0].conditions.as_ref().and_then(|c| c.ready)
    }

    #[test]
    fn our_prefix_and_the_anchors_name_a_gate() {
        assert_eq!(gate_name("target-health.cloudnet.io/web"), Some("web"));
        assert_eq!(
            gate_name("target-health.elbv2.k8s.aws/k8s-shop-web-1a2b"),
            Some("k8s-shop-web-1a2b")
        );
        assert_eq!(gate_name("target-health.cloudnet.io/"), None);
        assert_eq!(gate_name("example.com/other"), None);
    }

    #[test]
    fn only_a_gated_pod_with_ready_containers_is_admitted() {
        let gates = Gates::default();
        let mut changes = gates.subscribe();
        let ours = "target-health.cloudnet.io/web";
        // Not gated by us: never admitted.
        gates.apply(&pod("a", &["example.com/x"], &[], true));
        let mut s = [slice("a", false)];
        gates.admit_waiting(&mut s);
        assert_eq!(ready_in(&s[0]), Some(false));
        // Gated, containers not ready: not yet.
        gates.apply(&pod("b", &[ours], &[], false));
        let mut s = [slice("b", false)];
        gates.admit_waiting(&mut s);
        assert_eq!(ready_in(&s[0]), Some(false));
        assert!(
            changes.try_recv().is_err(),
            "nothing changed for targets yet"
        );
        // Containers ready: admitted, and subscribers hear of it once.
        gates.apply(&pod("b", &[ours], &[], true));
        gates.apply(&pod("b", &[ours], &[], true));
        gates.admit_waiting(&mut s);
        assert_eq!(ready_in(&s[0]), Some(true));
        let heard = changes.try_recv().expect("a change");
        assert_eq!(heard.metadata.name.as_deref(), Some("b"));
        assert!(
            changes.try_recv().is_err(),
            "the same state twice is one change"
        );
        assert_eq!(gates.waiting().len(), 1);
        // Gate open: still a target, no longer waiting.
        gates.apply(&pod("b", &[ours], &[ours], true));
        assert!(gates.waiting().is_empty());
        // Gone: not admitted, and subscribers hear of it.
        gates.delete(&pod("b", &[ours], &[ours], true));
        let mut s = [slice("b", false)];
        gates.admit_waiting(&mut s);
        assert_eq!(ready_in(&s[0]), Some(false));
        assert!(changes.try_recv().is_ok());
    }

    #[test]
    fn a_gate_names_a_binding_first_then_a_service() {
        let gates = Gates::default();
        let svc = |name: &str| Backing::Service {
            namespace: "shop".into(),
            name: name.into(),
        };
        gates.publish(
            "service shop/web".into(),
            vec![(svc("web"), "tg-nlb".into())],
        );
        gates.publish(
            "ingress shop/site".into(),
            vec![(svc("web"), "tg-alb".into()), (svc("api"), "tg-api".into())],
        );
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(gates.groups_for("shop", "web"), ids(&["tg-alb", "tg-nlb"]));
        assert_eq!(gates.groups_for("other", "web"), ids(&[]));
        gates.publish(
            "binding shop/web".into(),
            vec![(
                Backing::Binding {
                    namespace: "shop".into(),
                    name: "web".into(),
                },
                "tg-bound".into(),
            )],
        );
        assert_eq!(gates.groups_for("shop", "web"), ids(&["tg-bound"]));
        gates.publish("binding shop/web".into(), Vec::new());
        gates.publish("service shop/web".into(), Vec::new());
        assert_eq!(gates.groups_for("shop", "web"), ids(&["tg-alb"]));
    }

    fn member(ip: IpAddr, state: HealthState) -> TargetHealth {
        TargetHealth {
            target: Target { ip, port: 8080 },
            state,
            reason: None,
        }
    }

    /// A target registered in groups `a` (healthy) and `b` (`in_b`): its address, the
    /// groups, their health.
    fn in_groups_a_and_b(
        in_b: HealthState,
    ) -> (
        IpAddr,
        BTreeSet<String>,
        BTreeMap<String, Vec<TargetHealth>>,
    ) {
        let ip: IpAddr = "192.168.100.10".parse().expect("ip");
        let groups: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let mut health = BTreeMap::new();
        health.insert("a".to_string(), vec![member(ip, HealthState::Healthy)]);
        health.insert("b".to_string(), vec![member(ip, in_b)]);
        (ip, groups, health)
    }

    #[test]
    fn an_open_gate_closes_when_the_target_is_lost_in_a_group_that_was_read() {
        let (ip, groups, mut health) = in_groups_a_and_b(HealthState::Healthy);
        let member = |state| member(ip, state);
        assert!(!gate_closes(ip, &groups, &health), "healthy in both");
        for lost in [
            HealthState::Unhealthy,
            HealthState::Draining,
            HealthState::Initial,
            HealthState::Unused,
        ] {
            health.insert("b".to_string(), vec![member(lost)]);
            assert!(gate_closes(ip, &groups, &health), "{lost:?} in b");
        }
        health.insert("b".to_string(), vec![member(HealthState::Unavailable)]);
        assert!(!gate_closes(ip, &groups, &health), "the cloud cannot tell");
        health.insert("b".to_string(), Vec::new());
        assert!(gate_closes(ip, &groups, &health), "deregistered from b");
        health.remove("b");
        assert!(!gate_closes(ip, &groups, &health), "b not read: left open");
        assert!(
            !gate_closes(ip, &BTreeSet::new(), &health),
            "no group known: left open"
        );
    }

    #[test]
    fn open_gates_of_pods_that_stay_are_rechecked() {
        let gates = Gates::default();
        let ours = "target-health.cloudnet.io/web";
        gates.apply(&pod("a", &[ours], &[ours], true));
        gates.apply(&pod("b", &[ours], &[], true));
        gates.apply(&pod("c", &[ours], &[ours], false));
        let open: Vec<String> = gates.open().into_iter().map(|((_, n), _)| n).collect();
        // c's containers are not ready: its target is deregistered, so its gate is checked
        // (and closes) too.
        assert_eq!(open, ["a", "c"]);
        gates.apply(&pod("b", &[ours], &[ours], true));
        assert_eq!(gates.open().len(), 3);
    }

    #[test]
    fn a_gate_opens_when_healthy_in_every_group() {
        let (ip, groups, mut health) = in_groups_a_and_b(HealthState::Initial);
        let member = |state| member(ip, state);
        assert!(!gate_opens(ip, &groups, &health), "initial in b");
        health.insert("b".to_string(), vec![member(HealthState::Healthy)]);
        assert!(gate_opens(ip, &groups, &health));
        let other: IpAddr = "192.168.100.11".parse().expect("ip");
        assert!(!gate_opens(other, &groups, &health), "not a member");
        assert!(!gate_opens(ip, &BTreeSet::new(), &health), "no group yet");
        health.remove("b");
        assert!(!gate_opens(ip, &groups, &health), "b not read");
    }

    #[test]
    fn the_neg_gate_waits_on_the_groups_the_pod_is_in() {
        let neg = crate::gce::NEG_READINESS_GATE;
        assert_eq!(gate_name(neg), Some(EVERY_SERVICE));
        let gates = Gates::default();
        let p = pod("web-1", &[neg], &[], true);
        gates.apply(&p);
        assert_eq!(gates.waiting().len(), 1, "the NEG gate is ours");
        gates.publish(
            "ingress shop/web".into(),
            vec![
                (
                    Backing::of_group_key("shop/web:80").expect("key"),
                    "neg-web".into(),
                ),
                (
                    Backing::of_group_key("shop/api:80").expect("key"),
                    "neg-api".into(),
                ),
                (
                    Backing::of_group_key("other/web:80").expect("key"),
                    "neg-other".into(),
                ),
            ],
        );
        let groups = gates.groups_for("shop", EVERY_SERVICE);
        assert_eq!(
            groups,
            ["neg-api".to_string(), "neg-web".to_string()].into()
        );

        let ip: IpAddr = "192.168.100.10".parse().expect("ip");
        let member = |state| TargetHealth {
            target: Target { ip, port: 8080 },
            state,
            reason: None,
        };
        let mut health = BTreeMap::new();
        health.insert("neg-api".to_string(), vec![]);
        health.insert("neg-web".to_string(), vec![member(HealthState::Initial)]);
        let mine = member_groups(EVERY_SERVICE, ip, &groups, &health);
        assert_eq!(
            mine,
            ["neg-web".to_string()].into(),
            "only the NEG the pod is in"
        );
        assert!(!gate_opens(ip, &mine, &health), "not healthy yet");
        health.insert("neg-web".to_string(), vec![member(HealthState::Healthy)]);
        let mine = member_groups(EVERY_SERVICE, ip, &groups, &health);
        assert!(gate_opens(ip, &mine, &health), "healthy in its NEG");
        assert!(!named_gate_closes(EVERY_SERVICE, ip, &groups, &health));
        // A Service gate still waits on every group of its Service.
        assert_eq!(member_groups("web", ip, &groups, &health), groups);

        // Lost in its NEG, or in no NEG any more: the gate closes; a group not read: it stays.
        health.insert("neg-web".to_string(), vec![member(HealthState::Unhealthy)]);
        assert!(named_gate_closes(EVERY_SERVICE, ip, &groups, &health));
        health.insert("neg-web".to_string(), vec![]);
        assert!(named_gate_closes(EVERY_SERVICE, ip, &groups, &health));
        health.remove("neg-api");
        assert!(!named_gate_closes(EVERY_SERVICE, ip, &groups, &health));
    }
}
