//! The object store: every object of every resource as JSON, one global resourceVersion, a
//! bounded history of changes, and the live watchers they are fanned out to.
//!
//! All writes take one lock, bump the resourceVersion, append to the history and hand the
//! change to every matching watcher before the lock is released, so each watcher receives
//! changes exactly once and in resourceVersion order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::StatusError;
use crate::meta::{self, meta_mut};
use crate::resources::{GroupResource, Registry, ResourceInfo};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation;

type Res<T> = std::result::Result<T, StatusError>;

/// A write hook that runs inside the store lock, like the real API's registry strategies and
/// admission plugins (ClusterIP allocation, for example). Hooks must not call the store.
pub trait Admission: Send + Sync {
    /// Called before a new object is stored; may change it or refuse it.
    fn on_create(&self, _info: &ResourceInfo, _obj: &mut Value) -> Res<()> {
        Ok(())
    }
    /// Called before an update is stored; may change the new object or refuse it.
    fn on_update(&self, _info: &ResourceInfo, _old: &Value, _new: &mut Value) -> Res<()> {
        Ok(())
    }
    /// Called after an object has left the store.
    fn on_remove(&self, _info: &ResourceInfo, _obj: &Value) {}
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change history.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gr: GroupResource,
    pub namespace: String,
    pub kind: ChangeKind,
    pub object: Arc<Value>,
    /// The object before a modification, so selector watches can turn it into ADDED/DELETED.
    pub old: Option<Arc<Value>>,
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    Event {
        kind: &'static str,
        object: Arc<Value>,
    },
    /// A bookmark at this resourceVersion.
    Bookmark(u64),
}

struct Watcher {
    id: u64,
    gr: GroupResource,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    tx: mpsc::UnboundedSender<WatchItem>,
}

impl Watcher {
    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    fn translate(&self, c: &Change) -> Option<WatchItem> {
        if c.gr != self.gr || self.namespace.as_ref().is_some_and(|ns| *ns != c.namespace) {
            return None;
        }
        let now = self.matches(&c.object);
        let kind = match c.kind {
            ChangeKind::Added => now.then_some("ADDED")?,
            ChangeKind::Deleted => now.then_some("DELETED")?,
            ChangeKind::Modified => {
                let before = c.old.as_ref().is_some_and(|o| self.matches(o));
                match (before, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
        };
        Some(WatchItem::Event {
            kind,
            object: c.object.clone(),
        })
    }
}

type Key = (String, String);

struct State {
    rv: u64,
    registry: Registry,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    /// Watches may start from any resourceVersion at or above this one.
    floor: u64,
    watchers: Vec<Watcher>,
    next_watch: u64,
}

/// Options of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Send the current objects as ADDED first (resourceVersion unset or "0").
    Now,
    /// Send every change after this resourceVersion.
    After(u64),
}

/// A live watch; dropping it ends it.
#[derive(Debug)]
pub struct Watch {
    pub id: u64,
    pub rx: mpsc::UnboundedReceiver<WatchItem>,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// Dependents (by ownerReferences) are kept when true.
    pub orphan: bool,
}

/// Counters for tests and introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub resource_version: u64,
    pub objects: usize,
    pub watchers: usize,
    pub history: usize,
}

/// The in-memory object store.
pub struct Store {
    state: Mutex<State>,
    history_limit: usize,
    hooks: RwLock<Vec<Arc<dyn Admission>>>,
}

const NAMESPACES: &str = "namespaces";

fn group_resource(group: &str, resource: &str) -> GroupResource {
    GroupResource {
        group: group.into(),
        resource: resource.into(),
    }
}

fn encode_continue(rv: u64, key: &Key) -> String {
    format!("{rv}\n{}\n{}", key.0, key.1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, Key)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut parts = text.splitn(3, '\n');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, (parts.next()?.into(), parts.next()?.into())))
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn table(&mut self, gr: &GroupResource) -> &mut BTreeMap<Key, Arc<Value>> {
        self.objects.entry(gr.clone()).or_default()
    }

    fn get(&self, gr: &GroupResource, key: &Key) -> Option<&Arc<Value>> {
        self.objects.get(gr).and_then(|t| t.get(key))
    }

    fn emit(&mut self, change: Change, limit: usize) {
        let change = Arc::new(change);
        self.watchers.retain(|w| match w.translate(&change) {
            Some(item) => w.tx.send(item).is_ok(),
            None => !w.tx.is_closed(),
        });
        self.history.push_back(change);
        while self.history.len() > limit {
            if let Some(old) = self.history.pop_front() {
                self.floor = old.rv;
            }
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Store {
    /// A store with the four namespaces a cluster starts with and `history_limit` changes of
    /// watch history.
    pub fn new(history_limit: usize) -> Self {
        let store = Self {
            state: Mutex::new(State {
                rv: 0,
                registry: Registry::default(),
                objects: HashMap::new(),
                history: VecDeque::new(),
                floor: 0,
                watchers: Vec::new(),
                next_watch: 1,
            }),
            history_limit: history_limit.max(1),
            hooks: RwLock::new(vec![Arc::new(crate::defaults::Defaults)]),
        };
        if let Some(ns) = store.resource("v1", "Namespace") {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                if let Err(error) = store.create(&ns, None, obj) {
                    tracing::error!(%error, name, "Failed to create a built-in namespace");
                }
            }
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hooks(&self) -> Vec<Arc<dyn Admission>> {
        self.hooks
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Adds a write hook.
    pub fn add_admission(&self, hook: Arc<dyn Admission>) {
        match self.hooks.write() {
            Ok(mut h) => h.push(hook),
            Err(e) => e.into_inner().push(hook),
        }
    }

    /// The resource served at `group/version` as `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.lock().registry.lookup(group, version, plural).cloned()
    }

    /// The resource for an `apiVersion` and `kind` (`("apps/v1", "Deployment")`).
    pub fn resource(&self, api_version: &str, kind: &str) -> Option<ResourceInfo> {
        self.lock().registry.lookup_kind(api_version, kind).cloned()
    }

    /// A snapshot of the served resources.
    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn stats(&self) -> StoreStats {
        let s = self.lock();
        StoreStats {
            resource_version: s.rv,
            objects: s.objects.values().map(BTreeMap::len).sum(),
            watchers: s.watchers.len(),
            history: s.history.len(),
        }
    }

    fn key(info: &ResourceInfo, ns: Option<&str>, name: &str) -> Key {
        let ns = if info.namespaced {
            ns.unwrap_or_default()
        } else {
            ""
        };
        (ns.to_string(), name.to_string())
    }

    /// Checks apiVersion/kind and the namespace of a request body against the endpoint.
    fn check_body(info: &ResourceInfo, ns: Option<&str>, obj: &mut Value) -> Res<()> {
        meta::check_shape(obj)?;
        let want = info.api_version();
        match obj["apiVersion"].as_str() {
            Some(v) if v != want => {
                return Err(StatusError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({want})"
                )));
            }
            Some(_) => {}
            None => obj["apiVersion"] = json!(want),
        }
        match obj["kind"].as_str() {
            Some(k) if k != info.kind => {
                return Err(StatusError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    info.kind
                )));
            }
            Some(_) => {}
            None => obj["kind"] = json!(info.kind),
        }
        let meta = meta_mut(obj);
        if info.namespaced {
            let ns = ns.unwrap_or_default();
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(StatusError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(())
    }

    /// Creates an object (POST).
    pub fn create(&self, info: &ResourceInfo, ns: Option<&str>, mut obj: Value) -> Res<Arc<Value>> {
        Self::check_body(info, ns, &mut obj)?;
        let hooks = self.hooks();
        let mut s = self.lock();
        let gr = info.group_resource();
        let ns = if info.namespaced {
            ns.unwrap_or_default()
        } else {
            ""
        };
        if info.namespaced
            && s.get(
                &group_resource("", NAMESPACES),
                &(String::new(), ns.to_string()),
            )
            .is_none()
        {
            return Err(StatusError::not_found("", NAMESPACES, ns));
        }
        let meta = meta_mut(&mut obj);
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            let prefix = meta
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if prefix.is_empty() {
                return Err(StatusError::invalid(
                    &info.group,
                    &info.kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
            let prefix = prefix.to_string();
            for _ in 0..16 {
                name = format!("{prefix}{}", validation::random_suffix());
                if s.get(&gr, &(ns.to_string(), name.clone())).is_none() {
                    break;
                }
            }
        }
        if let Err(why) = validation::check_name(info.name_rule, &name) {
            return Err(StatusError::invalid(
                &info.group,
                &info.kind,
                &name,
                "metadata.name",
                &why,
            ));
        }
        let key = (ns.to_string(), name.clone());
        if s.get(&gr, &key).is_some() {
            return Err(StatusError::already_exists(
                &info.group,
                &info.plural,
                &name,
            ));
        }
        if info.group == "apiextensions.k8s.io" {
            prepare_crd(&mut obj, &name)?;
        }
        let rv = s.rv + 1;
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(meta::now()));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("generation".into(), json!(1));
        for k in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
            meta.remove(k);
        }
        if info.status && !info.custom {
            match info.kind.as_str() {
                "Pod" => obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"}),
                "Namespace" => obj["status"] = json!({"phase": "Active"}),
                "Service" => obj["status"] = json!({"loadBalancer": {}}),
                "Node" | "CustomResourceDefinition" => {}
                _ => remove_status(&mut obj),
            }
        } else if info.status {
            remove_status(&mut obj);
        }
        for hook in &hooks {
            hook.on_create(info, &mut obj)?;
        }
        let rv = s.bump();
        let obj = Arc::new(obj);
        s.table(&gr).insert(key, obj.clone());
        if info.group == "apiextensions.k8s.io" {
            s.registry.set_crd(&name, Some(&obj));
        }
        s.emit(
            Change {
                rv,
                gr,
                namespace: ns.to_string(),
                kind: ChangeKind::Added,
                object: obj.clone(),
                old: None,
            },
            self.history_limit,
        );
        Ok(obj)
    }

    /// Reads one object.
    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Res<Arc<Value>> {
        self.lock()
            .get(&info.group_resource(), &Self::key(info, ns, name))
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))
    }

    /// Replaces an object (PUT), or only its status when `status_only`.
    pub fn update(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        status_only: bool,
    ) -> Res<Arc<Value>> {
        Self::check_body(info, ns, &mut obj)?;
        let body_name = meta::name(&obj).to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let hooks = self.hooks();
        let mut s = self.lock();
        let gr = info.group_resource();
        let key = Self::key(info, ns, name);
        let old = s
            .get(&gr, &key)
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?;
        let want_rv = meta::resource_version(&obj);
        if !want_rv.is_empty() && want_rv != meta::resource_version(&old) {
            return Err(StatusError::conflict(
                &info.group,
                &info.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut new = if status_only {
            let mut new = (*old).clone();
            match obj.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => remove_status(&mut new),
            }
            new
        } else {
            if info.status {
                match old.get("status") {
                    Some(status) => obj["status"] = status.clone(),
                    None => remove_status(&mut obj),
                }
            }
            obj
        };
        {
            let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
            let meta = meta_mut(&mut new);
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ] {
                match old_meta.get(k) {
                    Some(v) => meta.insert(k.into(), v.clone()),
                    None => meta.remove(k),
                };
            }
            if !meta.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                meta.insert("managedFields".into(), mf.clone());
            }
        }
        if meta::is_deleting(&old) {
            let before = meta::finalizers(&old);
            if meta::finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(StatusError::invalid(
                    &info.group,
                    &info.kind,
                    name,
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if info.group == "apiextensions.k8s.io" && !status_only {
            prepare_crd(&mut new, name)?;
        }
        for hook in &hooks {
            hook.on_update(info, &old, &mut new)?;
        }
        if meta::spec_part(&new) != meta::spec_part(&old) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        if new == *old {
            return Ok(old);
        }
        let finished = meta::is_deleting(&new) && meta::finalizers(&new).is_empty();
        let rv = s.bump();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let new = Arc::new(new);
        if finished {
            s.table(&gr).remove(&key);
            s.emit(
                Change {
                    rv,
                    gr: gr.clone(),
                    namespace: key.0.clone(),
                    kind: ChangeKind::Deleted,
                    object: new.clone(),
                    old: Some(old),
                },
                self.history_limit,
            );
            self.after_remove(&mut s, info, &new, false, &hooks);
        } else {
            s.table(&gr).insert(key.clone(), new.clone());
            if info.group == "apiextensions.k8s.io" {
                s.registry.set_crd(name, Some(&new));
            }
            s.emit(
                Change {
                    rv,
                    gr,
                    namespace: key.0,
                    kind: ChangeKind::Modified,
                    object: new.clone(),
                    old: Some(old),
                },
                self.history_limit,
            );
        }
        Ok(new)
    }

    /// Deletes an object: marks it when it has finalizers, removes it otherwise.
    pub fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Res<Arc<Value>> {
        let hooks = self.hooks();
        let mut s = self.lock();
        self.delete_locked(&mut s, info, &Self::key(info, ns, name), opts, &hooks)
    }

    fn delete_locked(
        &self,
        s: &mut State,
        info: &ResourceInfo,
        key: &Key,
        opts: &DeleteOptions,
        hooks: &[Arc<dyn Admission>],
    ) -> Res<Arc<Value>> {
        let gr = info.group_resource();
        let old = s
            .get(&gr, key)
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, &key.1))?;
        let conflict = |why: &str| StatusError::conflict(&info.group, &info.plural, &key.1, why);
        if let Some(uid) = &opts.uid
            && uid != meta::uid(&old)
        {
            return Err(conflict(&format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(&old)
            )));
        }
        if let Some(rv) = &opts.resource_version
            && rv != meta::resource_version(&old)
        {
            return Err(conflict(&format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(&old)
            )));
        }
        if !meta::finalizers(&old).is_empty() {
            if meta::is_deleting(&old) {
                return Ok(old);
            }
            let mut new = (*old).clone();
            let rv = s.bump();
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(meta::now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            let new = Arc::new(new);
            s.table(&gr).insert(key.clone(), new.clone());
            s.emit(
                Change {
                    rv,
                    gr,
                    namespace: key.0.clone(),
                    kind: ChangeKind::Modified,
                    object: new.clone(),
                    old: Some(old),
                },
                self.history_limit,
            );
            return Ok(new);
        }
        let rv = s.bump();
        let mut gone = (*old).clone();
        meta_mut(&mut gone).insert("resourceVersion".into(), json!(rv.to_string()));
        let gone = Arc::new(gone);
        s.table(&gr).remove(key);
        s.emit(
            Change {
                rv,
                gr,
                namespace: key.0.clone(),
                kind: ChangeKind::Deleted,
                object: gone.clone(),
                old: Some(old),
            },
            self.history_limit,
        );
        self.after_remove(s, info, &gone, opts.orphan, hooks);
        Ok(gone)
    }

    /// What follows a removal: hooks, a CRD's resources, a namespace's contents, dependents.
    fn after_remove(
        &self,
        s: &mut State,
        info: &ResourceInfo,
        obj: &Value,
        orphan: bool,
        hooks: &[Arc<dyn Admission>],
    ) {
        for hook in hooks {
            hook.on_remove(info, obj);
        }
        let name = meta::name(obj).to_string();
        let mut doomed: Vec<(ResourceInfo, Key)> = Vec::new();
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            let served: Vec<ResourceInfo> = s
                .registry
                .all()
                .filter(|r| r.custom && format!("{}.{}", r.plural, r.group) == name)
                .cloned()
                .collect();
            if let Some(r) = served.first()
                && let Some(table) = s.objects.get(&r.group_resource())
            {
                doomed.extend(table.keys().map(|k| (r.clone(), k.clone())));
            }
        }
        if info.group.is_empty() && info.plural == NAMESPACES {
            for (gr, table) in &s.objects {
                if let Some(r) = s
                    .registry
                    .all()
                    .find(|r| r.group_resource() == *gr && r.namespaced)
                {
                    doomed.extend(
                        table
                            .keys()
                            .filter(|k| k.0 == name)
                            .map(|k| (r.clone(), k.clone())),
                    );
                }
            }
        }
        let uid = meta::uid(obj);
        if !orphan && !uid.is_empty() {
            for (gr, table) in &s.objects {
                let Some(r) = s.registry.all().find(|r| r.group_resource() == *gr) else {
                    continue;
                };
                for (k, o) in table {
                    let owned = o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid)));
                    if owned {
                        doomed.push((r.clone(), k.clone()));
                    }
                }
            }
        }
        for (r, key) in doomed {
            if let Err(error) = self.delete_locked(s, &r, &key, &DeleteOptions::default(), hooks) {
                tracing::debug!(%error, name = key.1, "Dependent already gone");
            }
        }
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            s.registry.set_crd(&name, None);
        }
    }

    /// Lists objects, across namespaces when `ns` is `None`.
    pub fn list(&self, info: &ResourceInfo, ns: Option<&str>, opts: &ListOptions) -> Res<ListPage> {
        let s = self.lock();
        let start = match opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(
                decode_continue(token)
                    .ok_or_else(|| StatusError::bad_request("invalid continue token"))?,
            ),
            None => None,
        };
        let rv = start.as_ref().map(|(rv, _)| *rv).unwrap_or(s.rv);
        let empty = BTreeMap::new();
        let table = s.objects.get(&info.group_resource()).unwrap_or(&empty);
        let ns = ns.filter(|n| info.namespaced && !n.is_empty());
        let mut items = Vec::new();
        let mut remaining = 0usize;
        let mut last: Option<Key> = None;
        let limit = opts.limit.filter(|l| *l > 0);
        for (key, obj) in table {
            if let Some((_, after)) = &start
                && key <= after
            {
                continue;
            }
            if ns.is_some_and(|n| n != key.0) {
                continue;
            }
            if let Some(name) = opts.fields.pinned_name()
                && name != key.1
            {
                continue;
            }
            if !opts.labels.matches(obj) || !opts.fields.matches(obj) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
                continue;
            }
            last = Some(key.clone());
            items.push(obj.clone());
        }
        let (continue_token, remaining) = match (remaining, last) {
            (0, _) | (_, None) => (None, None),
            (n, Some(last)) => (Some(encode_continue(rv, &last)), Some(n)),
        };
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token,
            remaining,
        })
    }

    /// Starts a watch. Fails with 410 Expired when `start` is older than the history.
    pub fn watch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
        start: WatchStart,
    ) -> Res<Watch> {
        let mut s = self.lock();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = s.next_watch;
        s.next_watch += 1;
        let watcher = Watcher {
            id,
            gr: info.group_resource(),
            namespace: ns
                .filter(|n| info.namespaced && !n.is_empty())
                .map(str::to_string),
            labels: opts.labels.clone(),
            fields: opts.fields.clone(),
            tx,
        };
        match start {
            WatchStart::Now => {
                if let Some(table) = s.objects.get(&watcher.gr) {
                    for (key, obj) in table {
                        if watcher.namespace.as_ref().is_some_and(|n| *n != key.0) {
                            continue;
                        }
                        if watcher.matches(obj) {
                            let item = WatchItem::Event {
                                kind: "ADDED",
                                object: obj.clone(),
                            };
                            if watcher.tx.send(item).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            WatchStart::After(from) => {
                if from < s.floor {
                    return Err(StatusError::expired(from, s.floor + 1));
                }
                for change in s.history.iter().filter(|c| c.rv > from) {
                    if let Some(item) = watcher.translate(change)
                        && watcher.tx.send(item).is_err()
                    {
                        break;
                    }
                }
            }
        }
        s.watchers.push(watcher);
        Ok(Watch { id, rx })
    }

    /// Queues a bookmark at the current resourceVersion behind everything already sent.
    pub fn bookmark(&self, watch_id: u64) {
        let s = self.lock();
        let rv = s.rv;
        if let Some(w) = s.watchers.iter().find(|w| w.id == watch_id) {
            // A closed receiver is dropped at the next change.
            let _ = w.tx.send(WatchItem::Bookmark(rv));
        }
    }

    /// Ends one watch.
    pub fn end_watch(&self, watch_id: u64) {
        self.lock().watchers.retain(|w| w.id != watch_id);
    }

    /// Ends every watch (their streams close; clients reconnect).
    pub fn end_all_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Oldest resourceVersion a watch can start after.
    pub fn history_floor(&self) -> u64 {
        self.lock().floor
    }
}

fn remove_status(obj: &mut Value) {
    if let Value::Object(m) = obj {
        m.remove("status");
    }
}

/// A CRD must be named `<plural>.<group>`; it is accepted and established at once.
fn prepare_crd(obj: &mut Value, name: &str) -> Res<()> {
    let spec = &obj["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let invalid = |field: &str, why: &str| {
        StatusError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            field,
            why,
        )
    };
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(invalid(
            "spec",
            "Required value: spec.group, spec.names.plural and spec.names.kind are required",
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            "spec.versions",
            "Required value: must have at least one version",
        ));
    }
    let stored: Vec<Value> = versions
        .iter()
        .filter(|v| v["storage"].as_bool().unwrap_or(false))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut accepted = spec["names"].clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(kind.to_lowercase());
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let now = meta::now();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    obj["status"] = json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    });
    Ok(())
}
