//! The durable record of allocations, cooldowns and offers.
//!
//! Format: one header line, then the JSON body.
//!
//! ```text
//! cloudnet-ipamd-checkpoint version=1 sha256=<hex of the body>
//! {"allocations":[...],"cooling":[...],"offered":[...]}
//! ```
//!
//! Every change is written to a temporary file in the same directory, fsync'd, renamed over
//! the checkpoint, and the directory fsync'd, so a crash leaves either the old or the new
//! file whole. On load, a missing file, a header or version this build does not read, or a
//! body whose checksum does not match (truncated, bit-flipped) is reported as a
//! [`Problem`]; the daemon moves the file aside and rebuilds from the API.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::state::Persisted;

pub const MAGIC: &str = "cloudnet-ipamd-checkpoint";
pub const VERSION: u32 = 1;

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
        }
    }
}

/// Encodes state into the file format.
pub fn encode(p: &Persisted) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(p).map_err(Error::Encode)?;
    let mut out = format!(
        "{MAGIC} version={VERSION} sha256={}\n",
        hex(&Sha256::digest(&body))
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes the file format.
pub fn decode(bytes: &[u8]) -> Result<Persisted, Problem> {
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
    if version != VERSION {
        return Err(Problem::Version(version));
    }
    let sum = parts
        .next()
        .and_then(|v| v.strip_prefix("sha256="))
        .ok_or(Problem::Unrecognised)?;
    if hex(&Sha256::digest(body)) != sum {
        return Err(Problem::Checksum);
    }
    serde_json::from_slice(body).map_err(|e| Problem::Undecodable(e.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and checks the checkpoint at `path`.
pub fn load(path: &Path) -> Result<Result<Persisted, Problem>> {
    match fs::read(path) {
        Ok(bytes) => Ok(decode(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Err(Problem::Missing)),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Moves an unusable checkpoint aside (`<name>.<kind>-<unix ms>`) and returns where.
pub fn move_aside(path: &Path, problem: &Problem, now_ms: u64) -> Result<Option<PathBuf>> {
    if *problem == Problem::Missing {
        return Ok(None);
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{now_ms}", problem.kind()));
    let to = path.with_file_name(name);
    fs::rename(path, &to).map_err(|e| Error::io("move aside", path, e))?;
    Ok(Some(to))
}

/// Writes the checkpoint durably: temp file, fsync, rename, fsync of the directory.
#[derive(Debug, Clone)]
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    dir: PathBuf,
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
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        Ok(Writer {
            tmp: path.with_file_name(tmp_name),
            path,
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, p: &Persisted) -> Result<()> {
        let bytes = encode(p)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)
            .map_err(|e| Error::io("create", &self.tmp, e))?;
        f.write_all(&bytes)
            .map_err(|e| Error::io("write", &self.tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &self.tmp, e))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| Error::io("rename", &self.path, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync", &self.dir, e))
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
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::new(dir.path().join("state/ipam.json")).unwrap();
        w.write(&sample()).unwrap();
        assert_eq!(load(w.path()).unwrap(), Ok(sample()));
        assert!(!dir.path().join("state/ipam.json.tmp").exists());
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = encode(&sample()).unwrap();
        assert_eq!(decode(&good), Ok(sample()));

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
            .replacen("version=1", "version=0", 1);
        assert_eq!(decode(old.as_bytes()), Err(Problem::Version(0)));

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
