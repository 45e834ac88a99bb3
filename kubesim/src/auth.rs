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

/// The group whose members bypass authorization (upstream's `SystemPrivilegedGroup`).
pub const MASTERS: &str = "system:masters";

/// The group every authenticated identity is in.
pub const AUTHENTICATED: &str = "system:authenticated";

impl Identity {
    /// An identity named `name` in `system:authenticated`; a service-account user name
    /// (`system:serviceaccount:NS:NAME`) also gets the groups its token would carry.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        if let Some((ns, sa)) = name
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.split_once(':'))
            .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'))
        {
            return Self::service_account(ns, sa);
        }
        Self {
            name,
            groups: vec![AUTHENTICATED.into()],
        }
    }

    /// The identity of a ServiceAccount's token: user
    /// `system:serviceaccount:NS:NAME`, groups `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.into(),
            ],
        }
    }

    /// An identity in `system:masters`, which RBAC never denies (the admin kubeconfig's).
    pub fn master(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
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

/// A request RBAC refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub identity: String,
    /// The message of the 403.
    pub message: String,
}

/// Tokens and the access record.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: RwLock<HashMap<String, Identity>>,
    audit: Mutex<BTreeMap<String, BTreeSet<Access>>>,
    denials: Mutex<Vec<Denial>>,
}

impl Auth {
    pub fn new(tokens: impl IntoIterator<Item = (String, Identity)>) -> Self {
        Self {
            tokens: RwLock::new(tokens.into_iter().collect()),
            audit: Mutex::default(),
            denials: Mutex::default(),
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

    /// Notes a request RBAC refused.
    pub fn record_denial(&self, denial: Denial) {
        let mut denials = self.denials.lock().unwrap_or_else(|e| e.into_inner());
        denials.push(denial);
    }

    /// Every request RBAC refused so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything each identity has used so far.
    pub fn audit(&self) -> BTreeMap<String, BTreeSet<Access>> {
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
