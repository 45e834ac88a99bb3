//! Start-up: the checkpoint if it can be trusted, else a rebuild; in both cases every
//! address a running pod holds (as the API says) is marked held, so it is never handed out
//! again even if the checkpoint is behind.
//!
//! A checkpoint of version 2 (allocations named their pod by namespace/name only) is read
//! and migrated ([`migrate`]): each allocation learns the UID of the pod of that name on
//! this node if that pod holds its address or existed before the allocation was made; one
//! whose pod of that name was created after it (a pod deleted and created again under the
//! same name) is freed (it cools), since its pod is gone; addresses recovered under a name
//! are recovered again under the running pod's UID.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Problem};
use crate::error::Result;
use crate::state::{Allocation, PodRef, State};

/// A pod the API says is on this node and may hold a pod-network address (not
/// host-network, not finished), with the addresses its status shows (maybe none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `metadata.creationTimestamp`, unix ms (whole seconds).
    pub created_ms: Option<u64>,
    pub ips: Vec<Ipv4Addr>,
}

impl RunningPod {
    pub fn pod_ref(&self) -> PodRef {
        PodRef::new(&self.namespace, &self.name, &self.uid)
    }
}

/// What [`migrate`] did to allocations that named their pod without a UID.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// Allocations that learned their pod's UID.
    pub named: usize,
    /// Allocations whose pod was replaced by a newer one of the same name, freed.
    pub freed: Vec<Allocation>,
    /// Left as they are: no pod of that name is on the node (the orphan sweep frees them).
    pub unmatched: usize,
}

/// Gives allocations without a pod UID (checkpoint version 2 and before) the UID of their
/// pod, from the pods on this node; see the module docs.
pub fn migrate(state: &mut State, pods: &[RunningPod], now_ms: u64) -> Migration {
    let mut m = Migration::default();
    let legacy: Vec<Allocation> = state
        .allocations()
        .filter(|a| a.pod_uid.is_empty() && !a.pod_name.is_empty())
        .cloned()
        .collect();
    for a in legacy {
        if a.key.is_recovered() {
            // Recovered under the pod's name: free it; the adoption that follows holds it
            // again, under the UID, for the pod that still runs with it.
            m.freed.extend(state.release(&a.key, now_ms));
            continue;
        }
        let pod = pods
            .iter()
            .find(|p| p.namespace == a.pod_namespace && p.name == a.pod_name);
        match pod {
            None => m.unmatched += 1,
            Some(p)
                if p.ips.contains(&a.address)
                    || p.created_ms.is_none_or(|c| c <= a.allocated_at_ms) =>
            {
                state.set_pod_uid(&a.key, &p.uid);
                m.named += 1;
            }
            Some(_) => m.freed.extend(state.release(&a.key, now_ms)),
        }
    }
    m
}

/// What start-up found and did.
#[derive(Debug)]
pub struct Startup {
    pub state: State,
    /// Why the checkpoint was not used, if it was not.
    pub problem: Option<Problem>,
    /// Where a damaged checkpoint was moved.
    pub moved_to: Option<PathBuf>,
    /// Running pods' addresses the checkpoint did not hold.
    pub adopted: usize,
    /// Allocations of an older checkpoint given their pod's UID.
    pub migration: Migration,
}

pub fn recover(path: &Path, cooldown_ms: u64, pods: &[RunningPod], now_ms: u64) -> Result<Startup> {
    let (mut state, problem, moved_to) = match checkpoint::load(path)? {
        Ok(p) => match State::restore(cooldown_ms, p) {
            Ok(s) => (s, None, None),
            Err(e) => {
                let problem = Problem::Undecodable(e.to_string());
                let to = checkpoint::move_aside(path, &problem, now_ms)?;
                (State::new(cooldown_ms), Some(problem), to)
            }
        },
        Err(problem) => {
            let to = checkpoint::move_aside(path, &problem, now_ms)?;
            (State::new(cooldown_ms), Some(problem), to)
        }
    };
    if let Some(p) = &problem {
        match &moved_to {
            Some(to) => tracing::warn!(
                checkpoint = %path.display(),
                moved_to = %to.display(),
                reason = %p,
                "Checkpoint not usable, moved aside; rebuilding from the pods on this node"
            ),
            None => tracing::info!(
                checkpoint = %path.display(),
                reason = %p,
                "No checkpoint; rebuilding from the pods on this node"
            ),
        }
    }
    let migration = migrate(&mut state, pods, now_ms);
    for a in &migration.freed {
        tracing::info!(
            pod = %format!("{}/{}", a.pod_namespace, a.pod_name),
            container = %a.key.container_id,
            address = %a.address,
            "An older checkpoint's allocation belongs to a pod since replaced under the same name; its address cools down"
        );
    }
    let mut adopted = 0;
    for pod in pods {
        for ip in &pod.ips {
            if state.adopt(&pod.pod_ref(), *ip, now_ms) {
                adopted += 1;
            }
        }
    }
    Ok(Startup {
        state,
        problem,
        moved_to,
        adopted,
        migration,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use super::*;
    use crate::checkpoint::Writer;
    use crate::state::{AllocKey, AllocRequest};

    const COOL: u64 = 30_000;

    fn running(name: &str, created_ms: u64, ips: &[Ipv4Addr]) -> RunningPod {
        RunningPod {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            created_ms: Some(created_ms),
            ips: ips.to_vec(),
        }
    }

    fn pods() -> Vec<RunningPod> {
        vec![
            running("web-1", 0, &[Ipv4Addr::new(10, 0, 0, 1)]),
            running("web-2", 0, &[Ipv4Addr::new(10, 0, 0, 2)]),
        ]
    }

    /// A checkpoint holding web-1 under its real container, written durably.
    fn written(dir: &Path) -> PathBuf {
        let path = dir.join("ipam.json");
        let mut s = State::new(COOL);
        s.set_pool(BTreeMap::from([(
            "10.0.0.0/29".parse().unwrap(),
            "eni-a".to_string(),
        )]));
        let a = s
            .allocate(
                &AllocRequest::new(
                    AllocKey::new("c-web-1", "eth0"),
                    &PodRef::new("default", "web-1", "uid-web-1"),
                ),
                0,
            )
            .unwrap();
        assert_eq!(a.address, Ipv4Addr::new(10, 0, 0, 0));
        Writer::new(&path).unwrap().write(s.persisted()).unwrap();
        path
    }

    /// After recovery the running pods' addresses are held: a full pool hands out only the
    /// rest.
    fn assert_pods_held(s: &mut State) {
        s.set_pool(BTreeMap::from([(
            "10.0.0.0/29".parse().unwrap(),
            "eni-a".to_string(),
        )]));
        let mut got = Vec::new();
        for i in 0..8 {
            if let Ok(a) = s.allocate(
                &AllocRequest::new(
                    AllocKey::new(format!("n{i}"), "eth0"),
                    &PodRef::new("x", format!("n{i}"), format!("uid-n{i}")),
                ),
                1,
            ) {
                got.push(a.address);
            }
        }
        for p in pods() {
            assert!(!got.contains(&p.ips[0]), "{} handed out again", p.ips[0]);
        }
    }

    #[test]
    fn a_good_checkpoint_is_used_and_topped_up_from_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let mut s = recover(&path, COOL, &pods(), 1).unwrap();
        assert_eq!(s.problem, None);
        // 10.0.0.0 was in the checkpoint; both pod addresses were not.
        assert_eq!(s.adopted, 2);
        assert!(s.state.get(&AllocKey::new("c-web-1", "eth0")).is_some());
        assert_pods_held(&mut s.state);
    }

    #[test]
    fn missing_checkpoint_rebuilds_from_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = recover(&dir.path().join("ipam.json"), COOL, &pods(), 1).unwrap();
        assert_eq!(s.problem, Some(Problem::Missing));
        assert_eq!(s.moved_to, None);
        assert_eq!(s.adopted, 2);
        assert_pods_held(&mut s.state);
        // Once the pool is known, adopted addresses show their block and interface.
        for a in s.state.allocations().filter(|a| a.key.is_recovered()) {
            assert_eq!(a.interface, "eni-a", "{a:?}");
            assert_eq!(a.block.to_string(), "10.0.0.0/29");
        }
    }

    fn damaged(damage: impl Fn(&mut Vec<u8>), want: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        damage(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        let mut s = recover(&path, COOL, &pods(), 77).unwrap();
        assert_eq!(s.problem.as_ref().map(Problem::kind), Some(want));
        let to = s.moved_to.clone().expect("moved aside");
        assert_eq!(fs::read(&to).unwrap(), bytes, "kept for inspection");
        assert!(to.to_string_lossy().ends_with(&format!("{want}-77")));
        assert!(!path.exists());
        assert_eq!(s.state.allocations().count(), 2, "only what the API shows");
        assert_pods_held(&mut s.state);
    }

    #[test]
    fn truncated_checkpoint_is_moved_aside() {
        damaged(|b| b.truncate(b.len() / 2 + 40), "checksum");
    }

    #[test]
    fn bit_flipped_checkpoint_is_moved_aside() {
        damaged(
            |b| {
                let i = b.len() - 10;
                b[i] ^= 0x04;
            },
            "checksum",
        );
    }

    #[test]
    fn older_version_checkpoint_is_moved_aside() {
        damaged(
            |b| {
                let s = String::from_utf8(b.clone())
                    .unwrap()
                    .replacen("version=3", "version=0", 1);
                *b = s.into_bytes();
            },
            "version",
        );
    }

    /// A checkpoint written before allocations carried the pod's UID: each allocation
    /// learns the UID of the pod of its name that was there before it; one whose pod was
    /// replaced under the same name is freed; an address recovered under a name is held
    /// again under the UID; nothing is held twice.
    #[test]
    fn allocations_without_a_pod_uid_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let mut s = State::new(COOL);
        s.set_pool(BTreeMap::from([(
            "10.0.0.0/29".parse().unwrap(),
            "eni-a".to_string(),
        )]));
        let old = |c: &str, name: &str| {
            AllocRequest::new(AllocKey::new(c, "eth0"), &PodRef::new("default", name, ""))
        };
        let kept = s.allocate(&old("c-web-1", "web-1"), 10_000).unwrap();
        let replaced = s.allocate(&old("c-web-2", "web-2"), 10_000).unwrap();
        let gone = s.allocate(&old("c-gone", "gone"), 10_000).unwrap();
        // v2 recovered key `recovered:<ns>/<name>`, no UID.
        assert!(s.adopt(
            &PodRef::new("default", "web-3", ""),
            Ipv4Addr::new(10, 0, 0, 5),
            10_000
        ));
        let mut p = s.persisted();
        for a in &mut p.allocations {
            if a.key.is_recovered() {
                a.key = AllocKey::new("recovered:default/web-3", "");
            }
        }
        Writer::new(&path).unwrap().write(p).unwrap();

        let pods = vec![
            // There before the allocation: its pod.
            running("web-1", 9_000, &[]),
            // Deleted and created again under the same name after the allocation.
            running("web-2", 20_000, &[]),
            running("web-3", 5_000, &[Ipv4Addr::new(10, 0, 0, 5)]),
        ];
        let r = recover(&path, COOL, &pods, 30_000).unwrap();
        assert_eq!(r.problem, None);
        assert_eq!(r.migration.named, 1);
        assert_eq!(r.migration.unmatched, 1);
        let freed: Vec<_> = r.migration.freed.iter().map(|a| a.address).collect();
        assert_eq!(freed, vec![replaced.address, Ipv4Addr::new(10, 0, 0, 5)]);
        assert_eq!(r.state.get(&kept.key).unwrap().pod_uid, "uid-web-1");
        assert!(r.state.get(&replaced.key).is_none());
        assert_eq!(r.state.get(&gone.key).unwrap().pod_uid, "");
        let web3 = r.state.get(&AllocKey::recovered("uid-web-3")).unwrap();
        assert_eq!(web3.address, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(r.adopted, 1);
        // The replaced pod's address cools; nothing is held twice.
        assert_eq!(r.state.cooling(30_000).count(), 1);
        let mut seen = std::collections::BTreeSet::new();
        for a in r.state.allocations() {
            assert!(seen.insert(a.address), "{} held twice", a.address);
        }
        // Written again, the checkpoint is the current version and keeps the UIDs.
        Writer::new(&path)
            .unwrap()
            .write(r.state.persisted())
            .unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with(&format!("{} version=3 ", checkpoint::MAGIC))
        );
        let again = recover(&path, COOL, &pods, 31_000).unwrap();
        assert_eq!(
            again.migration,
            Migration {
                unmatched: 1,
                ..Default::default()
            }
        );
    }
}
