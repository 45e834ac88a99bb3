//! The object store: every object of every resource as JSON, one global resourceVersion, a
//! bounded history of changes, and the live watchers they are fanned out to.
//!
//! All writes take one lock, bump the resourceVersion, append to the history and hand the
//! change to every matching watcher before the lock is released, so each watcher receives
//! changes exactly once and in resourceVersion order.

mod crd;
mod delete;
mod list;
pub mod namespaces;
pub mod quota;
mod views;
mod watchers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use crate::admission::Admission;
use crate::compact::{Doc, Stored};
use crate::error::StatusError;
use crate::meta::{self, meta_mut};
use crate::resources::{GroupResource, Registry, ResourceInfo};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation;
use crd::prepare_crd;
pub use watchers::WatchItem;
use watchers::Watcher;

type Res<T> = std::result::Result<T, StatusError>;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change history. The objects are the stored ones: an entry and the store
/// share one copy.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gr: GroupResource,
    pub namespace: String,
    pub kind: ChangeKind,
    pub object: Arc<Stored>,
    /// The object before a modification, so selector watches can turn it into ADDED/DELETED.
    pub old: Option<Arc<Stored>>,
}

type Key = (String, String);

struct State {
    rv: u64,
    registry: Registry,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Stored>>>,
    history: VecDeque<Arc<Change>>,
    /// Watches may start from any resourceVersion at or above this one.
    floor: u64,
    watchers: Vec<Watcher>,
    next_watch: u64,
    /// The latest resourceVersion each subscribed resource changed at, for
    /// [`Store::changes`].
    signals: HashMap<GroupResource, tokio::sync::watch::Sender<u64>>,
    /// Objects per namespace, for the quota.
    per_namespace: HashMap<String, usize>,
    /// Objects one namespace may hold.
    quota: usize,
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

/// Options of a create or update.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: everything but storing the result.
    pub dry_run: bool,
}

/// The part of an object a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Everything but status (and, for a namespace, `spec.finalizers`).
    Object,
    /// `status` only.
    Status,
    /// A namespace's `spec.finalizers` only.
    Finalize,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// Dependents (by ownerReferences) are kept when true.
    pub orphan: bool,
    /// `dryRun=All`: answer what the delete would do, change nothing.
    pub dry_run: bool,
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

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn table(&mut self, gr: &GroupResource) -> &mut BTreeMap<Key, Arc<Stored>> {
        self.objects.entry(gr.clone()).or_default()
    }

    fn get(&self, gr: &GroupResource, key: &Key) -> Option<&Arc<Stored>> {
        self.objects.get(gr).and_then(|t| t.get(key))
    }

    /// Stores `object` under `key` and returns the stored form.
    fn put(&mut self, gr: &GroupResource, key: Key, object: &Value) -> Arc<Stored> {
        let stored = Arc::new(Stored::from_value(object));
        self.table(gr).insert(key, stored.clone());
        stored
    }

    /// Records a change and hands it to the watchers; `live` is the changed object as the
    /// writer holds it, sent as it is.
    fn emit(&mut self, change: Change, live: &Arc<Value>, limit: usize) {
        let change = Arc::new(change);
        if let Some(signal) = self.signals.get(&change.gr) {
            signal.send_replace(change.rv);
        }
        self.watchers.retain(|w| match w.translate(&change) {
            Some(kind) => {
                w.tx.send(WatchItem::Event {
                    kind,
                    object: live.clone(),
                })
                .is_ok()
            }
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
                signals: HashMap::new(),
                per_namespace: HashMap::new(),
                quota: quota::DEFAULT_OBJECTS_PER_NAMESPACE,
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
    pub fn create(&self, info: &ResourceInfo, ns: Option<&str>, obj: Value) -> Res<Arc<Value>> {
        self.create_with(info, ns, obj, &WriteOptions::default())
    }

    /// Creates an object, or with `dry_run` only says what would be created: validated,
    /// defaulted and admitted, but not stored, not watched and with no resourceVersion.
    pub fn create_with(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Res<Arc<Value>> {
        if let Some(view) = self.view(info) {
            return view.create(self, ns, obj, opts);
        }
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
        let terminating = info.namespaced
            && s.get(
                &group_resource("", NAMESPACES),
                &(String::new(), ns.to_string()),
            )
            .is_some_and(|n| n.doc().deleting());
        {
            let shown = meta::name(&obj);
            let shown = if shown.is_empty() {
                obj["metadata"]["generateName"].as_str().unwrap_or_default()
            } else {
                shown
            };
            s.check_quota(info, ns, shown)?;
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
        if terminating {
            return Err(namespaces::terminating(info, &name, ns));
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
                "Namespace" => namespaces::prepare_create(&mut obj),
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
        if opts.dry_run {
            for hook in hooks.iter().rev() {
                hook.on_discard(info, &obj);
            }
            meta_mut(&mut obj).remove("resourceVersion");
            return Ok(Arc::new(obj));
        }
        let rv = s.bump();
        let obj = Arc::new(obj);
        let stored = s.put(&gr, key, &obj);
        s.count_in(info, ns, true);
        if info.group == "apiextensions.k8s.io" {
            s.registry.set_crd(&name, Some(&obj));
        }
        s.emit(
            Change {
                rv,
                gr,
                namespace: ns.to_string(),
                kind: ChangeKind::Added,
                object: stored,
                old: None,
            },
            &obj,
            self.history_limit,
        );
        Ok(obj)
    }

    /// Reads one object.
    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Res<Arc<Value>> {
        if let Some(view) = self.view(info) {
            return view.get(self, ns, name);
        }
        let stored = self
            .lock()
            .get(&info.group_resource(), &Self::key(info, ns, name))
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?;
        Ok(stored.value())
    }

    /// Replaces an object (PUT), or only its status when `status_only`.
    pub fn update(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        status_only: bool,
    ) -> Res<Arc<Value>> {
        self.update_with(info, ns, name, obj, status_only, &WriteOptions::default())
    }

    /// [`Store::update`]; with `dry_run` the result is computed and checked but not stored.
    pub fn update_with(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        status_only: bool,
        opts: &WriteOptions,
    ) -> Res<Arc<Value>> {
        if let Some(view) = self.view(info) {
            return view.update(self, ns, name, obj, opts);
        }
        let part = if status_only {
            Part::Status
        } else {
            Part::Object
        };
        self.write(info, ns, name, obj, part, opts)
    }

    /// Replaces the `part` of an object that a PUT to its endpoint or subresource changes.
    fn write(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> Res<Arc<Value>> {
        let status_only = part == Part::Status;
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
        let old_stored = s
            .get(&gr, &key)
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?;
        let old = old_stored.value();
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
        } else if part == Part::Finalize {
            let mut new = (*old).clone();
            new["spec"]["finalizers"] = obj["spec"]["finalizers"].clone();
            new
        } else {
            if namespaces::is_namespace(info) {
                namespaces::keep_finalizers(&old, &mut obj);
            }
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
        if opts.dry_run {
            return Ok(Arc::new(new));
        }
        let finished = meta::is_deleting(&new)
            && meta::finalizers(&new).is_empty()
            && (!namespaces::is_namespace(info) || namespaces::spec_finalizers(&new).is_empty());
        let rv = s.bump();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let new = Arc::new(new);
        if finished {
            s.table(&gr).remove(&key);
            s.count_in(info, &key.0, false);
            s.emit(
                Change {
                    rv,
                    gr: gr.clone(),
                    namespace: key.0.clone(),
                    kind: ChangeKind::Deleted,
                    object: Arc::new(Stored::from_value(&new)),
                    old: Some(old_stored),
                },
                &new,
                self.history_limit,
            );
            self.after_remove(&mut s, info, &new, false, &hooks);
        } else {
            let stored = s.put(&gr, key.clone(), &new);
            if info.group == "apiextensions.k8s.io" {
                s.registry.set_crd(name, Some(&new));
            }
            s.emit(
                Change {
                    rv,
                    gr,
                    namespace: key.0,
                    kind: ChangeKind::Modified,
                    object: stored,
                    old: Some(old_stored),
                },
                &new,
                self.history_limit,
            );
        }
        Ok(new)
    }
}

fn remove_status(obj: &mut Value) {
    if let Value::Object(m) = obj {
        m.remove("status");
    }
}
