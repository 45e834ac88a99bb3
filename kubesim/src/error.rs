//! The crate's error type, and the `Status` body every API error is answered with.

use std::path::PathBuf;

use serde_json::{Value, json};

/// Errors of the embedded API and its helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the API answers with a Kubernetes `Status` (404, 409, 422, ...).
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The listener could not be bound.
    #[error("Failed to bind the API listener on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig file could not be written.
    #[error("Failed to write kubeconfig {path}")]
    WriteKubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The generated kubeconfig could not be turned into a client.
    #[error("Failed to build a client from the kubeconfig")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The client could not be built.
    #[error("Failed to build a client")]
    Client(#[source] kube::Error),
    /// The default RBAC roles could not be stored.
    #[error("Failed to install the default RBAC roles")]
    Bootstrap(#[source] StatusError),
    /// No token is configured for this identity.
    #[error("Unknown identity {0:?}")]
    UnknownIdentity(String),
    /// An address source has nothing left to give.
    #[error("Address pool {pool} is exhausted")]
    PoolExhausted { pool: String },
    /// An address source could not be asked (its node daemon is not ready or not answering).
    #[error("No pod address on node {node}: {reason}")]
    NoAddress { node: String, reason: String },
    /// The serving certificate could not be made.
    #[error("Failed to set up TLS: {0}")]
    Tls(String),
    /// A typed object could not be converted to or from JSON.
    #[error("Failed to convert an object")]
    Convert(#[source] serde_json::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `reason` of a Kubernetes `Status`, with its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    AlreadyExists,
    Conflict,
    Gone,
    Expired,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    Invalid,
    InternalError,
}

impl Reason {
    /// The HTTP status code Kubernetes uses with this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Gone | Reason::Expired => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::InternalError => 500,
        }
    }

    /// The `reason` string of the `Status` body.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::InternalError => "InternalError",
        }
    }
}

/// An API error as Kubernetes reports it: a `Status` object with a code and a reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub reason: Reason,
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), when known.
    pub details: Option<Value>,
}

impl StatusError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        self.details = Some(json!({ "name": name, "group": group, "kind": kind }));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }

    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            Reason::NotFound,
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .with_details(name, group, resource)
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            Reason::AlreadyExists,
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .with_details(name, group, resource)
    }

    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, resource)
            ),
        )
        .with_details(name, group, resource)
    }

    /// 422 Invalid, with one cause for `field`.
    pub fn invalid(group: &str, kind: &str, name: &str, field: &str, why: &str) -> Self {
        let mut error = Self::new(
            Reason::Invalid,
            format!(
                "{} \"{name}\" is invalid: {field}: {why}",
                qualified(group, kind)
            ),
        )
        .with_details(name, group, kind);
        if let Some(details) = error.details.as_mut() {
            details["causes"] =
                json!([{ "reason": "FieldValueInvalid", "message": why, "field": field }]);
        }
        error
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(Reason::MethodNotAllowed, message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            Reason::Expired,
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(Reason::Unauthorized, "Unauthorized")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Reason::InternalError, message)
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.reason.code()
    }

    /// The `kind: Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}
