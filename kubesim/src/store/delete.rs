//! Deletion: finalizers and deletionTimestamp, cascading to dependents, a CRD's objects and a
//! namespace's contents.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Change, ChangeKind, DeleteOptions, Key, NAMESPACES, Res, State, Store, namespaces};
use crate::admission::Admission;
use crate::compact::{Doc, Stored};
use crate::error::StatusError;
use crate::meta::{self, meta_mut};
use crate::resources::ResourceInfo;

impl Store {
    /// Deletes an object: marks it when it has finalizers, removes it otherwise.
    pub fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Res<Arc<Value>> {
        if let Some(view) = self.view(info) {
            return view.delete(self, ns, name, opts);
        }
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
        let old_stored = s
            .get(&gr, key)
            .cloned()
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, &key.1))?;
        let old = old_stored.value();
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
        let namespace = namespaces::is_namespace(info);
        if !meta::finalizers(&old).is_empty()
            || (namespace && !namespaces::spec_finalizers(&old).is_empty())
        {
            if meta::is_deleting(&old) {
                return Ok(old);
            }
            let mut new = (*old).clone();
            if namespace {
                namespaces::mark_terminating(&mut new);
            }
            if opts.dry_run {
                let meta = meta_mut(&mut new);
                meta.insert("deletionTimestamp".into(), json!(meta::now()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                return Ok(Arc::new(new));
            }
            let rv = s.bump();
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(meta::now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            let new = Arc::new(new);
            let stored = s.put(&gr, key.clone(), &new);
            s.emit(
                Change {
                    rv,
                    gr,
                    namespace: key.0.clone(),
                    kind: ChangeKind::Modified,
                    object: stored,
                    old: Some(old_stored),
                },
                &new,
                self.history_limit,
            );
            return Ok(new);
        }
        if opts.dry_run {
            return Ok(old);
        }
        let rv = s.bump();
        let mut gone = (*old).clone();
        meta_mut(&mut gone).insert("resourceVersion".into(), json!(rv.to_string()));
        let gone = Arc::new(gone);
        s.table(&gr).remove(key);
        s.count_in(info, &key.0, false);
        s.emit(
            Change {
                rv,
                gr,
                namespace: key.0.clone(),
                kind: ChangeKind::Deleted,
                object: Arc::new(Stored::from_value(&gone)),
                old: Some(old_stored),
            },
            &gone,
            self.history_limit,
        );
        self.after_remove(s, info, &gone, opts.orphan, hooks);
        Ok(gone)
    }

    /// What follows a removal: hooks, a CRD's resources, a namespace's contents, dependents.
    pub(super) fn after_remove(
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
                    let owned = o
                        .doc()
                        .items_at(&["metadata", "ownerReferences"])
                        .any(|r| r.field("uid").and_then(Doc::text) == Some(uid));
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
}
