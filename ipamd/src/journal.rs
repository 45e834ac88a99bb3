//! The checkpoint's journal: one checksummed line per change, written in place into a file
//! of fixed size, so a change costs one `fdatasync` of a data block instead of a whole file
//! written, fsync'd, renamed and its directory fsync'd ([`crate::checkpoint`]).
//!
//! ```text
//! ipam.json.journal:
//!   cloudnet-ipamd-journal generation=<g>          <- the snapshot (ipam.json) it extends
//!   <sha256 of json> {"upsert":[...],"remove":[...],"cool":[...],"uncool":[...],"offered":[...]}
//!   ...
//!   \0\0\0...                                       <- room written at start, up to a fixed size
//! ```
//!
//! A record applies on top of the snapshot of the same generation and the records before it.
//! A journal whose generation is not the snapshot's is left over from a compaction that wrote
//! the snapshot and stopped before the new journal: the snapshot already holds its records.
//! The last line may be torn by a crash during its append (no newline, or a checksum that
//! does not match): its change was never answered, so it is dropped with a log line. A bad
//! line with good lines after it is damage, reported as a checksum problem like a damaged
//! snapshot.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::state::{AllocKey, Allocation, Offer, Persisted};

pub const MAGIC: &str = "cloudnet-ipamd-journal";

/// What one change did to the persisted state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Allocations added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert: Vec<Allocation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<AllocKey>,
    /// Cooling addresses added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cool: Vec<(Ipv4Addr, u64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncool: Vec<Ipv4Addr>,
    /// The whole offer list, when it changed (it is short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered: Option<Vec<Offer>>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        *self == Delta::default()
    }
}

/// The persisted state as maps, to diff against and apply deltas to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    allocations: BTreeMap<AllocKey, Allocation>,
    cooling: BTreeMap<Ipv4Addr, u64>,
    offered: Vec<Offer>,
}

impl From<Persisted> for Image {
    fn from(p: Persisted) -> Image {
        Image {
            allocations: p
                .allocations
                .into_iter()
                .map(|a| (a.key.clone(), a))
                .collect(),
            cooling: p.cooling.into_iter().collect(),
            offered: p.offered,
        }
    }
}

impl Image {
    pub fn of(p: &Persisted) -> Image {
        Image::from(p.clone())
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            allocations: self.allocations.values().cloned().collect(),
            cooling: self.cooling.iter().map(|(a, t)| (*a, *t)).collect(),
            offered: self.offered.clone(),
        }
    }

    /// The change from `self` to `next`.
    pub fn diff(&self, next: &Image) -> Delta {
        Delta {
            upsert: next
                .allocations
                .iter()
                .filter(|(k, a)| self.allocations.get(*k) != Some(*a))
                .map(|(_, a)| a.clone())
                .collect(),
            remove: self
                .allocations
                .keys()
                .filter(|k| !next.allocations.contains_key(*k))
                .cloned()
                .collect(),
            cool: next
                .cooling
                .iter()
                .filter(|(a, t)| self.cooling.get(*a) != Some(*t))
                .map(|(a, t)| (*a, *t))
                .collect(),
            uncool: self
                .cooling
                .keys()
                .filter(|a| !next.cooling.contains_key(*a))
                .copied()
                .collect(),
            offered: (self.offered != next.offered).then(|| next.offered.clone()),
        }
    }

    pub fn apply(&mut self, d: Delta) {
        for k in d.remove {
            self.allocations.remove(&k);
        }
        for a in d.upsert {
            self.allocations.insert(a.key.clone(), a);
        }
        for a in d.uncool {
            self.cooling.remove(&a);
        }
        self.cooling.extend(d.cool);
        if let Some(o) = d.offered {
            self.offered = o;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The journal's first line.
pub fn header(generation: u64) -> String {
    format!("{MAGIC} generation={generation}\n")
}

/// One record line.
pub fn record(d: &Delta) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(d).map_err(Error::Encode)?;
    let mut line = hex(&Sha256::digest(&json)).into_bytes();
    line.push(b' ');
    line.extend_from_slice(&json);
    line.push(b'\n');
    Ok(line)
}

/// What reading a journal found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// The journal extends another generation (or has no header): none of it applies.
    Stale,
    /// The records in order, and whether a torn last line was dropped.
    Records(Vec<Delta>, bool),
}

/// Reads a journal for the snapshot of `generation`. `Err` names damage before the end.
pub fn read(bytes: &[u8], generation: u64) -> std::result::Result<Read, String> {
    // The journal is written whole with zeros at its start; records end at the first.
    let bytes = &bytes[..bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())];
    let mut lines = bytes.split_inclusive(|b| *b == b'\n');
    match lines.next() {
        Some(h) if h == header(generation).as_bytes() => {}
        _ => return Ok(Read::Stale),
    }
    let lines: Vec<&[u8]> = lines.collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match parse(line) {
            Some(d) => out.push(d),
            None if last => return Ok(Read::Records(out, true)),
            None => {
                return Err(format!(
                    "journal record {} of {} is damaged",
                    i + 1,
                    lines.len()
                ));
            }
        }
    }
    Ok(Read::Records(out, false))
}

fn parse(line: &[u8]) -> Option<Delta> {
    let line = line.strip_suffix(b"\n")?;
    let space = line.iter().position(|b| *b == b' ')?;
    let (sum, json) = (&line[..space], &line[space + 1..]);
    if hex(&Sha256::digest(json)).as_bytes() != sum {
        return None;
    }
    serde_json::from_slice(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(c: &str, ip: [u8; 4]) -> Allocation {
        Allocation {
            key: AllocKey::new(c, "eth0"),
            pod_namespace: "default".into(),
            pod_name: c.into(),
            pod_uid: format!("uid-{c}"),
            interface: "eni-a".into(),
            address: Ipv4Addr::from(ip),
            block: "10.0.0.0/24".parse().unwrap(),
            allocated_at_ms: 1,
        }
    }

    #[test]
    fn deltas_replay_to_the_same_state() {
        let a = Persisted {
            allocations: vec![alloc("c1", [10, 0, 0, 1]), alloc("c2", [10, 0, 0, 2])],
            cooling: vec![(Ipv4Addr::new(10, 0, 0, 9), 5)],
            offered: vec![],
        };
        let b = Persisted {
            allocations: vec![alloc("c2", [10, 0, 0, 2]), alloc("c3", [10, 0, 0, 3])],
            cooling: vec![(Ipv4Addr::new(10, 0, 0, 1), 7)],
            offered: vec![Offer {
                interface: "eni-b".into(),
                block: "10.0.2.0/28".parse().unwrap(),
            }],
        };
        let (ia, ib) = (Image::of(&a), Image::of(&b));
        let d = ia.diff(&ib);
        assert_eq!(d.upsert.len(), 1);
        assert_eq!(d.remove, vec![AllocKey::new("c1", "eth0")]);
        assert!(ib.diff(&ib).is_empty());

        let mut bytes = header(3).into_bytes();
        bytes.extend(record(&d).unwrap());
        bytes.extend(record(&ib.diff(&ia)).unwrap());
        let Ok(Read::Records(ds, false)) = read(&bytes, 3) else {
            panic!("journal not read")
        };
        let mut img = ia.clone();
        img.apply(ds[0].clone());
        assert_eq!(img.persisted(), b);
        img.apply(ds[1].clone());
        assert_eq!(img.persisted(), a);
        assert_eq!(read(&bytes, 4), Ok(Read::Stale), "another generation");

        // A torn last append is dropped; damage before the end is an error.
        for cut in [1, 5, 40] {
            assert_eq!(
                read(&bytes[..bytes.len() - cut], 3),
                Ok(Read::Records(vec![ds[0].clone()], true)),
                "cut {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[header(3).len() + 70] ^= 0x01;
        assert!(read(&flipped, 3).is_err());
    }
}
