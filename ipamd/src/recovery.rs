//! Start-up: the checkpoint if it can be trusted, else a rebuild; in both cases every
//! address a running pod holds (as the API says) is marked held, so it is never handed out
//! again even if the checkpoint is behind.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Problem};
use crate::error::Result;
use crate::state::State;

/// A pod the API says runs on this node, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningPod {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<Ipv4Addr>,
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
    let mut adopted = 0;
    for pod in pods {
        for ip in &pod.ips {
            if state.adopt(&pod.namespace, &pod.name, *ip, now_ms) {
                adopted += 1;
            }
        }
    }
    Ok(Startup {
        state,
        problem,
        moved_to,
        adopted,
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

    fn pods() -> Vec<RunningPod> {
        vec![
            RunningPod {
                namespace: "default".into(),
                name: "web-1".into(),
                ips: vec![Ipv4Addr::new(10, 0, 0, 1)],
            },
            RunningPod {
                namespace: "default".into(),
                name: "web-2".into(),
                ips: vec![Ipv4Addr::new(10, 0, 0, 2)],
            },
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
                &AllocRequest {
                    key: AllocKey::new("c-web-1", "eth0"),
                    pod_namespace: "default".into(),
                    pod_name: "web-1".into(),
                },
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
                &AllocRequest {
                    key: AllocKey::new(format!("n{i}"), "eth0"),
                    pod_namespace: "x".into(),
                    pod_name: format!("n{i}"),
                },
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
                    .replacen("version=2", "version=0", 1);
                *b = s.into_bytes();
            },
            "version",
        );
    }
}
