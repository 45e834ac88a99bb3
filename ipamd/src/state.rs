//! Allocations, cooldown and release offers: the node's pool state, pure and clock-free
//! (every call takes `now_ms`, unix milliseconds, so the checkpoint can carry cooldowns
//! across a restart).
//!
//! An address is handed out only if it is in an agreed block that has not been offered back,
//! no allocation holds it, and it is not cooling down. A freed address cools for
//! `IP_COOLDOWN_PERIOD` before reuse, so a peer still sending to the old pod does not reach
//! a new one. A block is offered back only when none of its addresses is held or cooling;
//! once offered it is never handed out from again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pool::addresses;

/// The CNI's identity of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocKey {
    pub container_id: String,
    pub ifname: String,
}

impl AllocKey {
    pub fn new(container_id: impl Into<String>, ifname: impl Into<String>) -> Self {
        AllocKey {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }

    /// The key of an address rebuilt from the API, where the container is not known: the
    /// pod's UID. (Checkpoints of version 2 and before used `recovered:<namespace>/<name>`;
    /// [`State::migrate`] replaces those.)
    pub fn recovered(pod_uid: &str) -> Self {
        AllocKey::new(format!("{RECOVERED_PREFIX}{pod_uid}"), "")
    }

    pub fn is_recovered(&self) -> bool {
        self.container_id.starts_with(RECOVERED_PREFIX)
    }
}

const RECOVERED_PREFIX: &str = "recovered:";

/// The pod an attachment is for, as the kubelet names it in `CNI_ARGS`
/// (`K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `K8S_POD_UID`). The UID tells a pod from a later
/// one of the same name; any field may be empty when the runtime passes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        uid: impl Into<String>,
    ) -> Self {
        PodRef {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }
}

/// Who asks for an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocRequest {
    pub key: AllocKey,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The pod's UID (`K8S_POD_UID`); empty if the runtime passed none.
    #[serde(default)]
    pub pod_uid: String,
}

impl AllocRequest {
    pub fn new(key: AllocKey, pod: &PodRef) -> Self {
        AllocRequest {
            key,
            pod_namespace: pod.namespace.clone(),
            pod_name: pod.name.clone(),
            pod_uid: pod.uid.clone(),
        }
    }
}

/// An address held by a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub key: AllocKey,
    /// For display; the pod is identified by `pod_uid` when there is one.
    pub pod_namespace: String,
    pub pod_name: String,
    /// The pod's UID: a pod deleted and created again under the same name is another pod.
    /// Empty in checkpoints of version 2 and before (until [`State::migrate`] fills it in)
    /// and for runtimes that pass no `K8S_POD_UID`.
    #[serde(default)]
    pub pod_uid: String,
    /// The cloud interface (`eni-...`) the address is on.
    pub interface: String,
    pub address: Ipv4Addr,
    pub block: Ipv4Net,
    pub allocated_at_ms: u64,
}

/// A block offered back to the allocator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub interface: String,
    pub block: Ipv4Net,
}

/// What the checkpoint keeps; the pool itself comes back from its two sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    pub allocations: Vec<Allocation>,
    /// `(address, freed at, unix ms)`.
    pub cooling: Vec<(Ipv4Addr, u64)>,
    pub offered: Vec<Offer>,
}

/// Counts for metrics and `Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: usize,
    pub assigned: usize,
    pub cooling: usize,
    pub free: usize,
    pub offered_blocks: usize,
}

#[derive(Debug, Clone)]
pub struct State {
    cooldown_ms: u64,
    /// Agreed blocks and their interface.
    blocks: BTreeMap<Ipv4Net, String>,
    allocations: BTreeMap<AllocKey, Allocation>,
    by_address: BTreeMap<Ipv4Addr, AllocKey>,
    cooling: BTreeMap<Ipv4Addr, u64>,
    offered: BTreeSet<Offer>,
    offered_blocks: BTreeSet<Ipv4Net>,
    /// The address handed out last; the next search starts after it.
    cursor: Option<Ipv4Addr>,
}

impl State {
    pub fn new(cooldown_ms: u64) -> Self {
        State {
            cooldown_ms,
            blocks: BTreeMap::new(),
            allocations: BTreeMap::new(),
            by_address: BTreeMap::new(),
            cooling: BTreeMap::new(),
            offered: BTreeSet::new(),
            offered_blocks: BTreeSet::new(),
            cursor: None,
        }
    }

    /// Restores what a checkpoint kept. Two allocations of one address are refused: the
    /// checkpoint cannot be trusted then.
    pub fn restore(cooldown_ms: u64, p: Persisted) -> Result<Self> {
        let mut s = State::new(cooldown_ms);
        for a in p.allocations {
            if let Some(other) = s.by_address.get(&a.address) {
                return Err(Error::Inconsistent(format!(
                    "address {} held by both {} and {}",
                    a.address, other.container_id, a.key.container_id
                )));
            }
            s.by_address.insert(a.address, a.key.clone());
            s.allocations.insert(a.key.clone(), a);
        }
        s.cooling = p.cooling.into_iter().collect();
        for o in p.offered {
            s.offered_blocks.insert(o.block);
            s.offered.insert(o);
        }
        Ok(s)
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            allocations: self.allocations.values().cloned().collect(),
            cooling: self.cooling.iter().map(|(a, t)| (*a, *t)).collect(),
            offered: self.offered.iter().cloned().collect(),
        }
    }

    /// Replaces the agreed blocks. Allocations outside them are kept (a pod still holds the
    /// address; it is reported, not taken away); cooldowns outside them are dropped.
    pub fn set_pool(&mut self, blocks: BTreeMap<Ipv4Net, String>) {
        self.cooling
            .retain(|a, _| blocks.keys().any(|b| b.contains(a)));
        // Addresses adopted before the pool was known learn their block and interface.
        for a in self
            .allocations
            .values_mut()
            .filter(|a| a.interface.is_empty())
        {
            if let Some((b, i)) = blocks.iter().find(|(b, _)| b.contains(&a.address)) {
                a.block = *b;
                a.interface = i.clone();
            }
        }
        self.blocks = blocks;
    }

    pub fn cooldown_ms(&self) -> u64 {
        self.cooldown_ms
    }

    pub fn blocks(&self) -> &BTreeMap<Ipv4Net, String> {
        &self.blocks
    }

    pub fn allocations(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.values()
    }

    pub fn get(&self, key: &AllocKey) -> Option<&Allocation> {
        self.allocations.get(key)
    }

    pub fn holder(&self, address: Ipv4Addr) -> Option<&Allocation> {
        self.by_address
            .get(&address)
            .and_then(|k| self.allocations.get(k))
    }

    pub fn offered(&self) -> impl Iterator<Item = &Offer> {
        self.offered.iter()
    }

    /// Addresses cooling now, with the time they become free (unix ms).
    pub fn cooling(&self, now_ms: u64) -> impl Iterator<Item = (Ipv4Addr, u64)> + '_ {
        self.cooling
            .iter()
            .map(|(a, t)| (*a, t.saturating_add(self.cooldown_ms)))
            .filter(move |(_, until)| *until > now_ms)
    }

    fn is_cool(&self, a: Ipv4Addr, now_ms: u64) -> bool {
        self.cooling
            .get(&a)
            .is_none_or(|t| t.saturating_add(self.cooldown_ms) <= now_ms)
    }

    /// Hands out an address, or the same one again for a key that already holds one (a
    /// runtime retrying an ADD must not leak the first address).
    pub fn allocate(&mut self, req: &AllocRequest, now_ms: u64) -> Result<Allocation> {
        if req.key.container_id.is_empty() || req.key.ifname.is_empty() {
            return Err(Error::InvalidRequest(
                "container id and interface name are required".into(),
            ));
        }
        if let Some(a) = self.allocations.get(&req.key) {
            return Ok(a.clone());
        }
        // Round-robin from the last address handed out: a freed address comes back last,
        // and a busy node does not rescan its held and cooling addresses on every ADD.
        let start = self.cursor.map_or(0, |c| u64::from(u32::from(c)) + 1);
        let usable = self
            .blocks
            .iter()
            .filter(|(b, _)| !self.offered_blocks.contains(*b));
        let after = usable
            .clone()
            .filter(|(b, _)| u64::from(u32::from(b.broadcast())) >= start)
            .flat_map(|(b, i)| addresses(*b).map(move |a| (*b, i, a)))
            .filter(|(_, _, a)| u64::from(u32::from(*a)) >= start);
        let before = usable
            .filter(|(b, _)| u64::from(u32::from(b.network())) < start)
            .flat_map(|(b, i)| addresses(*b).map(move |a| (*b, i, a)))
            .filter(|(_, _, a)| u64::from(u32::from(*a)) < start);
        let pick = after
            .chain(before)
            .find(|(_, _, a)| !self.by_address.contains_key(a) && self.is_cool(*a, now_ms))
            .map(|(b, i, a)| (b, i.clone(), a));
        let Some((block, interface, address)) = pick else {
            let c = self.counts(now_ms);
            return Err(Error::PoolExhausted {
                total: c.total,
                assigned: c.assigned,
                cooling: c.cooling,
            });
        };
        self.cooling.remove(&address);
        self.cursor = Some(address);
        let alloc = Allocation {
            key: req.key.clone(),
            pod_namespace: req.pod_namespace.clone(),
            pod_name: req.pod_name.clone(),
            pod_uid: req.pod_uid.clone(),
            interface,
            address,
            block,
            allocated_at_ms: now_ms,
        };
        self.by_address.insert(address, req.key.clone());
        self.allocations.insert(req.key.clone(), alloc.clone());
        Ok(alloc)
    }

    /// Records an address a running pod holds, found in the API after the checkpoint was
    /// lost or behind. An address already held keeps its holder.
    pub fn adopt(&mut self, pod: &PodRef, address: Ipv4Addr, now_ms: u64) -> bool {
        if self.by_address.contains_key(&address) {
            return false;
        }
        let (block, interface) = self
            .blocks
            .iter()
            .find(|(b, _)| b.contains(&address))
            .map(|(b, i)| (*b, i.clone()))
            .unwrap_or_else(|| (Ipv4Net::from(address), String::new()));
        let key = AllocKey::recovered(&pod.uid);
        self.cooling.remove(&address);
        self.by_address.insert(address, key.clone());
        self.allocations.insert(
            key.clone(),
            Allocation {
                key,
                pod_namespace: pod.namespace.clone(),
                pod_name: pod.name.clone(),
                pod_uid: pod.uid.clone(),
                interface,
                address,
                block,
                allocated_at_ms: now_ms,
            },
        );
        true
    }

    /// Frees the key's address (it starts cooling). `None` when the key holds nothing:
    /// a DEL may come twice.
    pub fn release(&mut self, key: &AllocKey, now_ms: u64) -> Option<Allocation> {
        let a = self.allocations.remove(key)?;
        self.by_address.remove(&a.address);
        self.cooling.insert(a.address, now_ms);
        Some(a)
    }

    /// Frees what a pod holds under a recovered key (its container is not known).
    pub fn release_recovered(&mut self, pod_uid: &str, now_ms: u64) -> Option<Allocation> {
        if pod_uid.is_empty() {
            return None;
        }
        self.release(&AllocKey::recovered(pod_uid), now_ms)
    }

    /// The CNI GC verb: frees every attachment the runtime no longer knows. Recovered
    /// addresses are left alone: only the API can say their pod is gone.
    pub fn gc(&mut self, valid: &BTreeSet<AllocKey>, now_ms: u64) -> Vec<Allocation> {
        let stale: Vec<AllocKey> = self
            .allocations
            .keys()
            .filter(|k| !k.is_recovered() && !valid.contains(*k))
            .cloned()
            .collect();
        stale
            .iter()
            .filter_map(|k| self.release(k, now_ms))
            .collect()
    }

    /// Records the pod UID of an allocation made before allocations carried one (a
    /// checkpoint of version 2 or before).
    pub fn set_pod_uid(&mut self, key: &AllocKey, pod_uid: &str) {
        if let Some(a) = self.allocations.get_mut(key) {
            a.pod_uid = pod_uid.to_string();
        }
    }

    /// Frees recovered addresses whose pod (by UID) no longer runs.
    pub fn forget_recovered_except(
        &mut self,
        running_uids: &BTreeSet<String>,
        now_ms: u64,
    ) -> Vec<Allocation> {
        let gone: Vec<AllocKey> = self
            .allocations
            .values()
            .filter(|a| a.key.is_recovered() && !running_uids.contains(&a.pod_uid))
            .map(|a| a.key.clone())
            .collect();
        gone.iter()
            .filter_map(|k| self.release(k, now_ms))
            .collect()
    }

    /// Offers whole free, cooled blocks while at least `keep_free` free addresses remain
    /// outside them. Highest blocks go first, so allocation (lowest first) and release pull
    /// apart. Returns the new offers; they are final.
    pub fn offer_excess(&mut self, keep_free: usize, now_ms: u64) -> Vec<Offer> {
        let mut free = self.counts(now_ms).free;
        let candidates: Vec<(Ipv4Net, String)> = self
            .blocks
            .iter()
            .rev()
            .filter(|(b, _)| !self.offered_blocks.contains(*b))
            .filter(|(b, _)| {
                addresses(**b).all(|a| !self.by_address.contains_key(&a) && self.is_cool(a, now_ms))
            })
            .map(|(b, i)| (*b, i.clone()))
            .collect();
        let mut out = Vec::new();
        for (block, interface) in candidates {
            let size = addresses(block).count();
            if free < keep_free + size {
                break;
            }
            free -= size;
            for a in addresses(block) {
                self.cooling.remove(&a);
            }
            let o = Offer { interface, block };
            self.offered_blocks.insert(block);
            self.offered.insert(o.clone());
            out.push(o);
        }
        out
    }

    /// The allocator lists what it released in the cloud: the node forgets those blocks and
    /// drops their offers. Returns the offers dropped.
    pub fn apply_released(&mut self, released: &[Ipv4Net]) -> Vec<Offer> {
        let done: Vec<Offer> = self
            .offered
            .iter()
            .filter(|o| released.contains(&o.block))
            .cloned()
            .collect();
        for o in &done {
            self.offered.remove(o);
            self.offered_blocks.remove(&o.block);
            self.blocks.remove(&o.block);
        }
        done
    }

    /// Whether an offered block still appears in the pool: it must never be handed out.
    pub fn is_offered(&self, block: &Ipv4Net) -> bool {
        self.offered_blocks.contains(block)
    }

    /// The usable (not offered) pool block holding `a`.
    fn usable_block_of(&self, a: Ipv4Addr) -> Option<Ipv4Net> {
        let (b, _) = self
            .blocks
            .range(..=Ipv4Net::from(a))
            .next_back()
            .filter(|(b, _)| b.contains(&a))?;
        (!self.offered_blocks.contains(b)).then_some(*b)
    }

    /// O(blocks + held + cooling), not O(pool): it runs on every change.
    pub fn counts(&self, now_ms: u64) -> Counts {
        let total = self
            .blocks
            .keys()
            .filter(|b| !self.offered_blocks.contains(*b))
            .map(|b| (u32::from(b.broadcast()) - u32::from(b.network())) as usize + 1)
            .sum();
        let assigned = self
            .by_address
            .keys()
            .filter(|a| self.usable_block_of(**a).is_some())
            .count();
        let cooling = self
            .cooling
            .iter()
            .filter(|(a, t)| {
                t.saturating_add(self.cooldown_ms) > now_ms
                    && !self.by_address.contains_key(*a)
                    && self.usable_block_of(**a).is_some()
            })
            .count();
        Counts {
            total,
            assigned,
            cooling,
            free: total - assigned - cooling,
            offered_blocks: self.offered.len(),
        }
    }

    /// Drops cooldowns that have run out: they change nothing and would only grow the
    /// checkpoint.
    pub fn prune_cooled(&mut self, now_ms: u64) {
        let cd = self.cooldown_ms;
        self.cooling.retain(|_, t| t.saturating_add(cd) > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const COOL: u64 = 30_000;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn pool(blocks: &[(&str, &str)]) -> BTreeMap<Ipv4Net, String> {
        blocks
            .iter()
            .map(|(b, i)| (net(b), i.to_string()))
            .collect()
    }

    fn req(c: &str) -> AllocRequest {
        AllocRequest::new(
            AllocKey::new(c, "eth0"),
            &PodRef::new("default", format!("pod-{c}"), format!("uid-{c}")),
        )
    }

    fn pod(ns: &str, name: &str) -> PodRef {
        PodRef::new(ns, name, format!("uid-{ns}-{name}"))
    }

    fn state(blocks: &[(&str, &str)]) -> State {
        let mut s = State::new(COOL);
        s.set_pool(pool(blocks));
        s
    }

    #[test]
    fn allocates_lowest_free_and_repeats_for_the_same_key() {
        let mut s = state(&[("10.0.0.12/32", "eni-a"), ("10.0.0.11/32", "eni-a")]);
        let a = s.allocate(&req("c1"), 0).unwrap();
        assert_eq!(a.address, Ipv4Addr::new(10, 0, 0, 11));
        assert_eq!(a.interface, "eni-a");
        assert_eq!(s.allocate(&req("c1"), 5).unwrap(), a, "retried ADD");
        let b = s.allocate(&req("c2"), 0).unwrap();
        assert_eq!(b.address, Ipv4Addr::new(10, 0, 0, 12));
        let err = s.allocate(&req("c3"), 0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::PoolExhausted {
                    total: 2,
                    assigned: 2,
                    cooling: 0
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_an_empty_key() {
        let mut s = state(&[("10.0.0.11/32", "eni-a")]);
        let mut r = req("c1");
        r.key.ifname.clear();
        assert!(matches!(s.allocate(&r, 0), Err(Error::InvalidRequest(_))));
    }

    #[test]
    fn a_freed_address_cools_before_reuse() {
        let mut s = state(&[("10.0.0.11/32", "eni-a")]);
        let a = s.allocate(&req("c1"), 0).unwrap();
        assert_eq!(s.release(&a.key, 1_000).unwrap().address, a.address);
        assert!(s.release(&a.key, 1_000).is_none(), "second DEL is a no-op");
        assert_eq!(s.counts(1_000).cooling, 1);
        assert!(s.allocate(&req("c2"), 1_000 + COOL - 1).is_err());
        assert_eq!(s.cooling(1_000 + COOL - 1).count(), 1);
        let b = s.allocate(&req("c2"), 1_000 + COOL).unwrap();
        assert_eq!(b.address, a.address);
        assert_eq!(s.counts(1_000 + COOL).cooling, 0);
    }

    #[test]
    fn cooling_addresses_are_passed_over_for_cool_ones() {
        let mut s = state(&[("10.0.0.0/30", "eni-a")]);
        let a = s.allocate(&req("c1"), 0).unwrap();
        s.release(&a.key, 10);
        let b = s.allocate(&req("c2"), 20).unwrap();
        assert_ne!(a.address, b.address);
    }

    #[test]
    fn offers_only_whole_cooled_blocks_and_keeps_the_warm_target() {
        let mut s = state(&[
            ("10.0.2.0/28", "eni-a"),
            ("10.0.2.16/28", "eni-a"),
            ("10.0.2.32/28", "eni-b"),
        ]);
        let a = s.allocate(&req("c1"), 0).unwrap();
        assert_eq!(a.block, net("10.0.2.0/28"));
        // 47 free: one whole block may go (31 stay, >= 16); a second would leave 15.
        let offers = s.offer_excess(16, 0);
        assert_eq!(
            offers,
            vec![Offer {
                interface: "eni-b".into(),
                block: net("10.0.2.32/28")
            }]
        );
        assert!(
            s.offer_excess(16, 0).is_empty(),
            "no second offer below target"
        );
        assert_eq!(s.counts(0).offered_blocks, 1);
        assert_eq!(s.counts(0).total, 32);

        // A block with a cooling address is not offered until it cools.
        let mut s = state(&[("10.0.2.0/28", "eni-a"), ("10.0.2.16/28", "eni-a")]);
        let mut keys = Vec::new();
        for i in 0..17 {
            keys.push(s.allocate(&req(&format!("c{i}")), 0).unwrap().key);
        }
        s.release(&keys[16], 100);
        assert!(s.offer_excess(0, 100).is_empty());
        let offers = s.offer_excess(0, 100 + COOL);
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].block, net("10.0.2.16/28"));
        // Offers are final: nothing from the block is handed out again.
        for k in &keys[..16] {
            s.release(k, 200);
        }
        let got = s.allocate(&req("late"), 200 + COOL).unwrap();
        assert_eq!(got.block, net("10.0.2.0/28"));
        assert!(s.is_offered(&net("10.0.2.16/28")));

        // The allocator released it: forgotten, offer dropped.
        let done = s.apply_released(&[net("10.0.2.16/28")]);
        assert_eq!(done.len(), 1);
        assert_eq!(s.offered().count(), 0);
        assert!(!s.blocks().contains_key(&net("10.0.2.16/28")));
    }

    #[test]
    fn gc_frees_unknown_attachments_but_not_recovered_ones() {
        let mut s = state(&[("10.0.0.0/29", "eni-a")]);
        let a = s.allocate(&req("keep"), 0).unwrap();
        let b = s.allocate(&req("stale"), 0).unwrap();
        assert!(s.adopt(&pod("default", "old"), Ipv4Addr::new(10, 0, 0, 5), 0));
        let valid: BTreeSet<AllocKey> = [a.key.clone()].into();
        let freed = s.gc(&valid, 1);
        assert_eq!(freed.len(), 1);
        assert_eq!(freed[0].key, b.key);
        assert!(s.get(&a.key).is_some());
        assert!(s.holder(Ipv4Addr::new(10, 0, 0, 5)).is_some());
        let running = BTreeSet::new();
        assert_eq!(s.forget_recovered_except(&running, 2).len(), 1);
        assert!(s.holder(Ipv4Addr::new(10, 0, 0, 5)).is_none());
    }

    #[test]
    fn adopted_addresses_are_never_handed_out() {
        let mut s = state(&[("10.0.0.0/30", "eni-a")]);
        for last in 0..3 {
            assert!(s.adopt(
                &pod("ns", &format!("p{last}")),
                Ipv4Addr::new(10, 0, 0, last),
                0
            ));
        }
        assert!(
            !s.adopt(&pod("ns", "other"), Ipv4Addr::new(10, 0, 0, 0), 0),
            "already held"
        );
        let a = s.allocate(&req("c"), 0).unwrap();
        assert_eq!(a.address, Ipv4Addr::new(10, 0, 0, 3));
        assert!(s.allocate(&req("d"), 0).is_err());
        assert!(s.release_recovered("uid-ns-p1", 5).is_some());
        assert!(s.release_recovered("", 5).is_none());
        assert_eq!(s.counts(5).cooling, 1);
    }

    #[test]
    fn restore_round_trips_and_refuses_a_doubly_held_address() {
        let mut s = state(&[("10.0.0.0/30", "eni-a")]);
        let a = s.allocate(&req("c1"), 0).unwrap();
        s.allocate(&req("c2"), 0).unwrap();
        s.release(&a.key, 7);
        let p = s.persisted();
        let mut r = State::restore(COOL, p.clone()).unwrap();
        r.set_pool(pool(&[("10.0.0.0/30", "eni-a")]));
        assert_eq!(r.persisted(), p);
        assert_eq!(r.counts(8), s.counts(8));

        let mut bad = p;
        let mut dup = bad.allocations[0].clone();
        dup.key = AllocKey::new("other", "eth0");
        bad.allocations.push(dup);
        assert!(State::restore(COOL, bad).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(u8),
        Release(u8),
        Gc(Vec<u8>),
        Offer(u8),
        Released(u8),
        Adopt(u8, u8),
        Tick(u16),
        Restore,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u8>().prop_map(|c| Op::Alloc(c % 40)),
            4 => any::<u8>().prop_map(|c| Op::Release(c % 40)),
            1 => proptest::collection::vec(0u8..40, 0..20).prop_map(Op::Gc),
            1 => (0u8..40).prop_map(Op::Offer),
            1 => (0u8..4).prop_map(Op::Released),
            1 => (any::<u8>(), 0u8..64).prop_map(|(p, a)| Op::Adopt(p % 10, a)),
            2 => (0u16..20_000).prop_map(Op::Tick),
            1 => Just(Op::Restore),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the runtime, the allocator and a restart do, no address is held twice,
        /// nothing is handed out from an offered block or while cooling.
        #[test]
        fn never_one_address_for_two_pods(ops in proptest::collection::vec(op(), 1..300)) {
            let blocks = [
                ("10.0.2.0/28", "eni-a"),
                ("10.0.2.16/28", "eni-a"),
                ("10.0.2.32/28", "eni-b"),
                ("10.0.2.48/28", "eni-b"),
            ];
            let mut s = state(&blocks);
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Alloc(c) => {
                        let cooling: BTreeSet<Ipv4Addr> = s.cooling(now).map(|(a, _)| a).collect();
                        let existed = s.get(&req(&c.to_string()).key).cloned();
                        if let Ok(a) = s.allocate(&req(&c.to_string()), now) {
                            if existed.is_none() {
                                prop_assert!(!cooling.contains(&a.address), "cooling {}", a.address);
                            }
                            prop_assert!(!s.is_offered(&a.block));
                        }
                    }
                    Op::Release(c) => { s.release(&req(&c.to_string()).key, now); }
                    Op::Gc(valid) => {
                        let v = valid.iter().map(|c| AllocKey::new(c.to_string(), "eth0")).collect();
                        s.gc(&v, now);
                    }
                    Op::Offer(keep) => { s.offer_excess(keep as usize, now); }
                    Op::Released(i) => {
                        let b = net(blocks[i as usize].0);
                        s.apply_released(&[b]);
                    }
                    Op::Adopt(p, last) => {
                        s.adopt(&pod("ns", &format!("p{p}")), Ipv4Addr::new(10, 0, 2, last), now);
                    }
                    Op::Tick(ms) => now += ms as u64,
                    Op::Restore => {
                        let blocks_now = s.blocks().clone();
                        s = State::restore(COOL, s.persisted()).unwrap();
                        s.set_pool(blocks_now);
                    }
                }
                let mut seen = BTreeSet::new();
                for a in s.allocations() {
                    prop_assert!(seen.insert(a.address), "{} held twice", a.address);
                    prop_assert_eq!(s.holder(a.address).map(|h| &h.key), Some(&a.key));
                }
                let c = s.counts(now);
                prop_assert_eq!(c.total, c.assigned + c.cooling + c.free);
            }
        }
    }
}
