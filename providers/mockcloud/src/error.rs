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
    /// A world file or a fault rule that does not parse: where (file, line, column when the
    /// parser knows them) and, for a key the format does not know, that key.
    #[error("{file}{}: {message}", at(*.line, *.column))]
    Config {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        key: Option<String>,
        message: String,
    },
    #[error("world is inconsistent: {0}")]
    InvalidWorld(String),
    #[error("cannot make the HTTPS certificate: {0}")]
    Tls(String),
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Error {
    /// A YAML parse error of `file`, with its location.
    pub fn yaml(file: impl Into<String>, e: &serde_yaml::Error) -> Error {
        let (line, column) = e
            .location()
            .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
        Error::config(file.into(), line, column, e.to_string())
    }

    /// A JSON parse error of `file` (a request body, say), with its location.
    pub fn json(file: impl Into<String>, e: &serde_json::Error) -> Error {
        let (line, column) = if e.line() == 0 {
            (None, None)
        } else {
            (Some(e.line()), Some(e.column()))
        };
        Error::config(file.into(), line, column, e.to_string())
    }

    fn config(file: String, line: Option<usize>, column: Option<usize>, text: String) -> Error {
        // Both parsers end their text with the location, which the error carries apart.
        let message = match (line, column) {
            (Some(l), Some(c)) => text
                .strip_suffix(&format!(" at line {l} column {c}"))
                .unwrap_or(&text)
                .to_string(),
            _ => text,
        };
        let key = unknown_key(&message);
        Error::Config {
            file,
            line,
            column,
            key,
            message,
        }
    }

    /// The key a config error names as unknown, if it is that kind of error.
    pub fn unknown_key(&self) -> Option<&str> {
        match self {
            Error::Config { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

/// serde's `Error::unknown_field` reaches the parser's error only as text ("unknown field
/// `x`, expected ..."), serde's documented wording; the fault rules use the same wording for
/// keys of another kind. Read the key back from it, the one place that does.
fn unknown_key(message: &str) -> Option<String> {
    const MARK: &str = "unknown field `";
    let start = message.find(MARK)? + MARK.len();
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}
