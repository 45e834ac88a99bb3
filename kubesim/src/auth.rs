//! Bearer tokens, the identities behind them, and the record of what each identity used.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            groups: vec!["system:authenticated".into()],
        }
    }
}

/// One kind of access an identity made: what RBAC would have to allow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Access {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    pub group: String,
    /// `pods`, or `pods/status` for a subresource.
    pub resource: String,
    /// The namespace, or `None` for a cluster-wide request.
    pub namespace: Option<String>,
}

/// Tokens and the access record.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: RwLock<HashMap<String, Identity>>,
    audit: Mutex<BTreeMap<String, BTreeSet<Access>>>,
}

impl Auth {
    pub fn new(tokens: impl IntoIterator<Item = (String, Identity)>) -> Self {
        Self {
            tokens: RwLock::new(tokens.into_iter().collect()),
            audit: Mutex::default(),
        }
    }

    /// The identity for an `Authorization` header value, if it carries a known bearer token.
    pub fn authenticate(&self, header: Option<&str>) -> Option<Identity> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).cloned()
    }

    /// Adds (or replaces) a token.
    pub fn add_token(&self, token: impl Into<String>, identity: Identity) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.insert(token.into(), identity);
    }

    /// A token of the identity named `name`.
    pub fn token_for(&self, name: &str) -> Option<String> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<&String> = tokens
            .iter()
            .filter(|(_, id)| id.name == name)
            .map(|(t, _)| t)
            .collect();
        found.sort();
        found.first().map(|t| t.to_string())
    }

    pub fn record(&self, identity: &str, access: Access) {
        let mut audit = self.audit.lock().unwrap_or_else(|e| e.into_inner());
        audit
            .entry(identity.to_string())
            .or_default()
            .insert(access);
    }

    /// Everything each identity has used so far.
    pub fn audit(&self) -> BTreeMap<String, BTreeSet<Access>> {
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
