//! The durable record of allocations, cooldowns and offers: a snapshot and a journal.
//!
//! Snapshot format: one header line, then the JSON body.
//!
//! ```text
//! cloudnet-ipamd-checkpoint version=3 sha256=<hex of the body> generation=<g>
//! {"allocations":[...],"cooling":[...],"offered":[...]}
//! ```
//!
//! Each change is one checksummed line written into `<checkpoint>.journal` and
//! `fdatasync`'d before it is answered ([`crate::journal`]). The journal is written whole when
//! it is started ([`JOURNAL_BYTES`]: its header, then zeros), so a change is a `pwrite` into
//! blocks the file already has and an `fdatasync` that flushes only that data: the file's
//! size never changes, so no metadata (and on ext4 no journal commit) is flushed with it.
//! Loading stops at the first zero byte. Every [`COMPACT_RECORDS`] changes, when the next
//! record would not fit, after a failed write, and on the first write of a [`Writer`], the
//! whole state is written as a new snapshot of a new generation (temporary file, fsync,
//! rename) and the journal restarted for it (temporary file, fsync, rename), then the
//! directory fsync'd; a crash anywhere leaves a snapshot whole and a journal that either
//! extends it or is ignored.
//! Version 3 allocations carry their pod's UID (`podUid`); version 2 snapshots and their
//! journals (the same format without it) are read, and their allocations migrated at start
//! ([`crate::recovery::migrate`]); the first write makes the checkpoint version 3. Version 1
//! snapshots (no journal) are read as they are. On load, a missing file, a header
//! or version this build does not read, a body whose checksum does not match (truncated,
//! bit-flipped) or a journal damaged before its last line is reported as a [`Problem`]; the
//! daemon moves the files aside and rebuilds from the API.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::journal::{self, Image, Read};
use crate::state::Persisted;

pub const MAGIC: &str = "cloudnet-ipamd-checkpoint";
pub const VERSION: u32 = 3;
/// Allocations name their pod by namespace/name only; read and migrated.
const VERSION_WITHOUT_POD_UID: u32 = 2;
/// Snapshots of this version have no journal; still read.
const VERSION_WITHOUT_JOURNAL: u32 = 1;
/// Journal records after which the next change writes a new snapshot.
pub const COMPACT_RECORDS: usize = 1024;
/// The journal's fixed size, written (zeros) when it is started: room for
/// [`COMPACT_RECORDS`] records of a few hundred bytes; a record that does not fit starts a
/// new snapshot early.
pub const JOURNAL_BYTES: usize = 1 << 20;

/// Why a checkpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    /// No header line, or not ours.
    Unrecognised,
    /// Written by a format this build does not read.
    Version(u32),
    /// The body does not match its checksum: cut short or corrupted.
    Checksum,
    /// The checksum matches but the body does not decode (written by a buggy build).
    Undecodable(String),
    /// A journal line before the last is damaged.
    Journal(String),
}

impl Problem {
    /// A short word for file names and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Unrecognised => "unrecognised",
            Problem::Version(_) => "version",
            Problem::Checksum => "checksum",
            Problem::Undecodable(_) => "undecodable",
            Problem::Journal(_) => "journal",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => write!(f, "no checkpoint file"),
            Problem::Unrecognised => write!(f, "not a {MAGIC} file"),
            Problem::Version(v) => write!(f, "format version {v}, this build reads {VERSION}"),
            Problem::Checksum => write!(f, "checksum mismatch (truncated or corrupted)"),
            Problem::Undecodable(e) => write!(f, "body does not decode: {e}"),
            Problem::Journal(e) => write!(f, "{e}"),
        }
    }
}

/// Encodes state into the snapshot format.
pub fn encode(p: &Persisted, generation: u64) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(p).map_err(Error::Encode)?;
    let mut out = format!(
        "{MAGIC} version={VERSION} sha256={} generation={generation}\n",
        hex(&Sha256::digest(&body))
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes the snapshot format: the state and its generation (0 for version 1).
pub fn decode(bytes: &[u8]) -> Result<(Persisted, u64), Problem> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(Problem::Unrecognised)?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| Problem::Unrecognised)?;
    let body = &bytes[nl + 1..];
    let mut parts = header.split(' ');
    if parts.next() != Some(MAGIC) {
        return Err(Problem::Unrecognised);
    }
    let version = parts
        .next()
        .and_then(|v| v.strip_prefix("version="))
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or(Problem::Unrecognised)?;
    if ![VERSION, VERSION_WITHOUT_POD_UID, VERSION_WITHOUT_JOURNAL].contains(&version) {
        return Err(Problem::Version(version));
    }
    let sum = parts
        .next()
        .and_then(|v| v.strip_prefix("sha256="))
        .ok_or(Problem::Unrecognised)?;
    let generation = if version != VERSION_WITHOUT_JOURNAL {
        parts
            .next()
            .and_then(|v| v.strip_prefix("generation="))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(Problem::Unrecognised)?
    } else {
        0
    };
    if hex(&Sha256::digest(body)) != sum {
        return Err(Problem::Checksum);
    }
    let p = serde_json::from_slice(body).map_err(|e| Problem::Undecodable(e.to_string()))?;
    Ok((p, generation))
}

/// The journal beside a checkpoint.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".journal");
    path.with_file_name(name)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and checks the checkpoint at `path` and replays its journal.
pub fn load(path: &Path) -> Result<Result<Persisted, Problem>> {
    let (snapshot, generation) = match fs::read(path) {
        Ok(bytes) => match decode(&bytes) {
            Ok(s) => s,
            Err(problem) => return Ok(Err(problem)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Problem::Missing)),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let journal = journal_path(path);
    let bytes = match fs::read(&journal) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(snapshot)),
        Err(e) => return Err(Error::io("read", &journal, e)),
    };
    match journal::read(&bytes, generation) {
        Ok(Read::Stale) => Ok(Ok(snapshot)),
        Ok(Read::Records(deltas, torn)) => {
            if torn {
                tracing::warn!(journal = %journal.display(), "Dropped a torn last journal line (a change cut short, never answered)");
            }
            let mut image = Image::of(&snapshot);
            for d in deltas {
                image.apply(d);
            }
            Ok(Ok(image.persisted()))
        }
        Err(why) => Ok(Err(Problem::Journal(why))),
    }
}

fn aside(path: &Path, problem: &Problem, now_ms: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{now_ms}", problem.kind()));
    path.with_file_name(name)
}

/// Moves an unusable checkpoint and its journal aside (`<name>.<kind>-<unix ms>`) and returns
/// where the checkpoint went.
pub fn move_aside(path: &Path, problem: &Problem, now_ms: u64) -> Result<Option<PathBuf>> {
    let journal = journal_path(path);
    if journal.exists() {
        fs::rename(&journal, aside(&journal, problem, now_ms))
            .map_err(|e| Error::io("move aside", &journal, e))?;
    }
    if *problem == Problem::Missing {
        return Ok(None);
    }
    let to = aside(path, problem, now_ms);
    fs::rename(path, &to).map_err(|e| Error::io("move aside", path, e))?;
    Ok(Some(to))
}

/// Writes the checkpoint durably: a journal line per change, a new snapshot now and then.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    journal: PathBuf,
    journal_tmp: PathBuf,
    dir: PathBuf,
    generation: u64,
    /// What the last successful write made durable.
    base: Option<Image>,
    /// A write failed: the next one starts a new snapshot.
    dirty: bool,
    records: usize,
    /// Where the journal's next record goes.
    offset: usize,
    /// Writes flushed so far (records and snapshots).
    flushes: u64,
    /// Runs between a record's write and its `fdatasync`: a crash there, in tests.
    #[cfg(test)]
    pub(crate) before_sync: Option<BeforeSync>,
}

/// A test's hook between a journal record's write and its flush: the journal's path and
/// the record's byte range. An error fails the write as a failed flush would.
#[cfg(test)]
pub(crate) struct BeforeSync(pub Box<BeforeSyncFn>);

#[cfg(test)]
type BeforeSyncFn = dyn FnMut(&Path, std::ops::Range<usize>) -> std::io::Result<()> + Send;

#[cfg(test)]
impl std::fmt::Debug for BeforeSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeSync")
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to `tmp`, fsyncs it and renames it over `to`.
fn replace(tmp: &Path, to: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| Error::io("create", tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io("write", tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", tmp, e))?;
    drop(f);
    fs::rename(tmp, to).map_err(|e| Error::io("rename", to, e))
}

impl Writer {
    /// Creates the checkpoint's directory (0700) if needed.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        crate::fsutil::private_dir(&dir)?;
        let journal = journal_path(&path);
        Ok(Writer {
            tmp: sibling(&path, ".tmp"),
            journal_tmp: sibling(&journal, ".tmp"),
            journal,
            path,
            dir,
            generation: 0,
            base: None,
            dirty: false,
            records: 0,
            offset: 0,
            flushes: 0,
            #[cfg(test)]
            before_sync: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes flushed to disk so far: a write with nothing new flushes nothing.
    pub fn flushes(&self) -> u64 {
        self.flushes
    }

    /// Makes `p` durable. A failed write leaves the files as they were or with a torn last
    /// journal line (dropped on load), and the next write starts a new snapshot.
    pub fn write(&mut self, p: Persisted) -> Result<()> {
        let next = Image::from(p);
        let line = match &self.base {
            Some(base) if !self.dirty && self.records < COMPACT_RECORDS => {
                let delta = base.diff(&next);
                if delta.is_empty() {
                    None
                } else {
                    Some(journal::record(&delta)?)
                }
            }
            _ => Some(Vec::new()),
        };
        match line {
            None => {}
            Some(line) if !line.is_empty() && self.offset + line.len() <= JOURNAL_BYTES => {
                if let Err(e) = self.append(&line) {
                    self.dirty = true;
                    return Err(e);
                }
                self.records += 1;
            }
            // The first write, a failed one before, the record count reached, or no room.
            Some(_) => {
                if let Err(e) = self.compact(&next.persisted()) {
                    self.dirty = true;
                    return Err(e);
                }
                self.records = 0;
                self.dirty = false;
            }
        }
        self.base = Some(next);
        Ok(())
    }

    /// The state the last successful write made durable.
    pub fn written(&self) -> Option<Persisted> {
        self.base.as_ref().map(Image::persisted)
    }

    /// Writes a record in place and flushes its data: the file keeps its size. Opened by
    /// path each time, so a journal replaced or removed underneath fails the write instead
    /// of going to a file nobody reads.
    fn append(&mut self, line: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let f = OpenOptions::new()
            .write(true)
            .open(&self.journal)
            .map_err(|e| Error::io("open", &self.journal, e))?;
        f.write_all_at(line, self.offset as u64)
            .map_err(|e| Error::io("write", &self.journal, e))?;
        #[cfg(test)]
        if let Some(BeforeSync(hook)) = &mut self.before_sync {
            hook(&self.journal, self.offset..self.offset + line.len())
                .map_err(|e| Error::io("fdatasync", &self.journal, e))?;
        }
        f.sync_data()
            .map_err(|e| Error::io("fdatasync", &self.journal, e))?;
        self.offset += line.len();
        self.flushes += 1;
        Ok(())
    }

    fn compact(&mut self, p: &Persisted) -> Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let generation = now.max(self.generation + 1);
        replace(&self.tmp, &self.path, &encode(p, generation)?)?;
        // Written whole (not a sparse or fallocate'd file): later records overwrite blocks
        // that exist, so their fdatasync has no extent or size to record.
        let header = journal::header(generation);
        let mut bytes = header.clone().into_bytes();
        bytes.resize(JOURNAL_BYTES.max(header.len()), 0);
        replace(&self.journal_tmp, &self.journal, &bytes)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync", &self.dir, e))?;
        self.generation = generation;
        self.offset = header.len();
        self.flushes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::state::{AllocKey, Allocation, Offer};

    fn sample() -> Persisted {
        Persisted {
            allocations: vec![Allocation {
                key: AllocKey::new("c1", "eth0"),
                pod_namespace: "default".into(),
                pod_name: "web-1".into(),
                pod_uid: "uid-web-1".into(),
                interface: "eni-a".into(),
                address: Ipv4Addr::new(10, 0, 0, 11),
                block: "10.0.0.11/32".parse().unwrap(),
                allocated_at_ms: 1,
            }],
            cooling: vec![(Ipv4Addr::new(10, 0, 0, 12), 5)],
            offered: vec![Offer {
                interface: "eni-b".into(),
                block: "10.0.2.0/28".parse().unwrap(),
            }],
        }
    }

    #[test]
    fn round_trips_through_the_snapshot_and_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::new(dir.path().join("state/ipam.json")).unwrap();
        w.write(sample()).unwrap();
        assert_eq!(load(w.path()).unwrap(), Ok(sample()));
        assert!(!dir.path().join("state/ipam.json.tmp").exists());
        let snapshot = fs::read(w.path()).unwrap();

        // Changes go to the journal; the snapshot is untouched until the compaction.
        let mut p = sample();
        for i in 0..COMPACT_RECORDS {
            p.cooling = vec![(Ipv4Addr::new(10, 0, 0, 12), i as u64)];
            w.write(p.clone()).unwrap();
            assert_eq!(fs::read(w.path()).unwrap(), snapshot);
        }
        assert_eq!(load(w.path()).unwrap(), Ok(p.clone()));
        let journal = journal_path(w.path());
        let full = fs::read(&journal).unwrap();
        p.allocations.clear();
        w.write(p.clone()).unwrap();
        assert_ne!(fs::read(w.path()).unwrap(), snapshot, "compacted");
        assert_eq!(
            fs::read(&journal)
                .unwrap()
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            1
        );
        assert_eq!(fs::read(&journal).unwrap().len(), JOURNAL_BYTES);
        assert_eq!(load(w.path()).unwrap(), Ok(p.clone()));

        // A journal left from the previous generation is ignored; a torn last line dropped.
        fs::write(&journal, &full).unwrap();
        assert_eq!(load(w.path()).unwrap(), Ok(p.clone()), "stale journal");
        let mut w = Writer::new(w.path()).unwrap();
        w.write(p.clone()).unwrap();
        let mut q = p.clone();
        q.offered.clear();
        w.write(q.clone()).unwrap();
        let mut torn = fs::read(&journal).unwrap();
        assert_eq!(torn.len(), JOURNAL_BYTES, "the journal keeps its size");
        let end = torn.iter().position(|b| *b == 0).unwrap();
        // Cut short in place, zeros after it (a crash during the write) ...
        torn[end - 3..end].fill(0);
        fs::write(&journal, &torn).unwrap();
        assert_eq!(load(w.path()).unwrap(), Ok(p.clone()), "torn write dropped");
        // ... or the file cut short (a journal from an older build, appended to).
        torn.truncate(end - 3);
        fs::write(&journal, &torn).unwrap();
        assert_eq!(load(w.path()).unwrap(), Ok(p), "torn append dropped");
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = encode(&sample(), 7).unwrap();
        assert_eq!(decode(&good), Ok((sample(), 7)));

        assert_eq!(
            decode(&good[..good.len() - 7]),
            Err(Problem::Checksum),
            "truncated"
        );
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        assert_eq!(decode(&flipped), Err(Problem::Checksum), "bit flip");
        let nl = good.iter().position(|b| *b == b'\n').unwrap();
        assert_eq!(
            decode(&good[..nl / 2]),
            Err(Problem::Unrecognised),
            "cut in the header"
        );
        assert_eq!(
            decode(b"{\"allocations\":[]}\n"),
            Err(Problem::Unrecognised)
        );

        let old = String::from_utf8(good.clone())
            .unwrap()
            .replacen("version=3", "version=0", 1);
        assert_eq!(decode(old.as_bytes()), Err(Problem::Version(0)));
        // Version 2: the same format, allocations without their pod's UID.
        let mut v2_state = sample();
        v2_state.allocations[0].pod_uid.clear();
        let mut body = serde_json::to_value(&v2_state).unwrap();
        body["allocations"][0]
            .as_object_mut()
            .unwrap()
            .remove("podUid");
        let body = serde_json::to_vec(&body).unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("podUid"));
        let mut v2 = format!(
            "{MAGIC} version=2 sha256={} generation=4\n",
            hex(&Sha256::digest(&body))
        )
        .into_bytes();
        v2.extend_from_slice(&body);
        assert_eq!(decode(&v2), Ok((v2_state, 4)), "version 2 is still read");
        let body = serde_json::to_vec(&sample()).unwrap();
        let mut v1 =
            format!("{MAGIC} version=1 sha256={}\n", hex(&Sha256::digest(&body))).into_bytes();
        v1.extend_from_slice(&body);
        assert_eq!(decode(&v1), Ok((sample(), 0)), "version 1 is still read");

        let body = b"{\"allocations\":7}";
        let mut odd =
            format!("{MAGIC} version=1 sha256={}\n", hex(&Sha256::digest(body))).into_bytes();
        odd.extend_from_slice(body);
        assert!(matches!(decode(&odd), Err(Problem::Undecodable(_))));
    }

    #[test]
    fn missing_is_reported_and_damage_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        assert_eq!(load(&path).unwrap(), Err(Problem::Missing));
        assert_eq!(move_aside(&path, &Problem::Missing, 1).unwrap(), None);
        fs::write(&path, b"garbage").unwrap();
        let problem = load(&path).unwrap().unwrap_err();
        let to = move_aside(&path, &problem, 42).unwrap().unwrap();
        assert_eq!(to, dir.path().join("ipam.json.unrecognised-42"));
        assert!(!path.exists());
        assert_eq!(fs::read(to).unwrap(), b"garbage");
    }
}
