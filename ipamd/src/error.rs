//! The crate's one error type.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No address is free in the agreed pool (the allocator has not grown it yet).
    #[error(
        "no free address in the pool ({total} addresses, {assigned} assigned, {cooling} cooling)"
    )]
    PoolExhausted {
        total: usize,
        assigned: usize,
        cooling: usize,
    },
    /// The pool has not been synced from both sources yet.
    #[error("the pool is not synced yet")]
    NotSynced,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("instance metadata: {0}")]
    Metadata(String),
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A restored checkpoint holds one address twice: it cannot be trusted.
    #[error("checkpoint inconsistent: {0}")]
    Inconsistent(String),
    #[error("another ipamd answers on {0}")]
    AlreadyRunning(PathBuf),
    #[error("{0} task ended abnormally")]
    Task(&'static str),
    /// ipamd answered, but not in the shape the protocol promises.
    #[error("unexpected answer from ipamd: {0}")]
    Protocol(String),
    #[error("encode checkpoint")]
    Encode(#[source] serde_json::Error),
    /// A checkpoint write failed; the same failure, told to another change of its batch.
    #[error("checkpoint not written: {0}")]
    NotDurable(String),
    #[error("kubernetes API")]
    Kube(#[from] kube::Error),
    #[error("gRPC transport")]
    Transport(#[from] tonic::transport::Error),
    #[error("ipamd answered {}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    #[error("ipamd did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("network namespace {path}")]
    Netns {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The same failure for another waiter (the checkpoint's errors are not `Clone`): an
    /// I/O error keeps its kind, operation and path; any other is told by its message.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Io { op, path, source } => Error::Io {
                op,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            other => {
                let mut msg = other.to_string();
                let mut s = std::error::Error::source(other);
                while let Some(e) = s {
                    msg.push_str(&format!(": {e}"));
                    s = e.source();
                }
                Error::NotDurable(msg)
            }
        }
    }
}

/// An error with its sources, `: `-separated, for log lines.
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut s = self.0.source();
        while let Some(e) = s {
            write!(f, ": {e}")?;
            s = e.source();
        }
        Ok(())
    }
}
