//! The library's error type: what can go wrong starting or configuring the mock cloud.
//! Errors inside requests are not here; they are [`crate::awserror::AwsError`]s sent to the
//! client in AWS's own format.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read world file {path}")]
    ReadWorld {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("world file is not valid YAML")]
    ParseWorld(#[source] serde_yaml::Error),
    #[error("world is inconsistent: {0}")]
    InvalidWorld(String),
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
