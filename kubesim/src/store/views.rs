//! Resources served as a view of another resource's storage: `events.k8s.io/v1` Events are
//! the core `v1` Events, converted on the way in and out ([`crate::events_v1`]). Each public
//! entry point of the store hands a view's requests here first.

use std::sync::Arc;

use serde_json::Value;

use super::{DeleteOptions, ListOptions, ListPage, Res, Store, Watch, WatchStart, WriteOptions};
use crate::error::{Reason, StatusError};
use crate::events_v1;
use crate::resources::ResourceInfo;

/// A view and the resource it is stored as.
pub(super) struct View<'a> {
    info: &'a ResourceInfo,
    storage: ResourceInfo,
}

impl Store {
    /// The storage behind `info` when `info` is a view (takes the lock: call before locking).
    pub(super) fn view<'a>(&self, info: &'a ResourceInfo) -> Option<View<'a>> {
        if !events_v1::is_view(info) {
            return None;
        }
        let storage = self.resource("v1", "Event")?;
        Some(View { info, storage })
    }
}

impl View<'_> {
    fn out(&self, obj: Res<Arc<Value>>, name: &str) -> Res<Arc<Value>> {
        obj.map(|o| Arc::new(events_v1::from_core(&o)))
            .map_err(|e| self.error(e, name))
    }

    /// The storage's error as the view names it (`events.events.k8s.io "x" not found`).
    fn error(&self, error: StatusError, name: &str) -> StatusError {
        let (group, plural) = (&self.info.group, &self.info.plural);
        match error.reason {
            Reason::NotFound if error.details.is_some() => {
                StatusError::not_found(group, plural, name)
            }
            Reason::AlreadyExists => StatusError::already_exists(group, plural, name),
            _ => error,
        }
    }

    fn list_options(&self, opts: &ListOptions) -> Res<ListOptions> {
        Ok(ListOptions {
            fields: events_v1::field_selector(&opts.fields)?,
            ..opts.clone()
        })
    }

    pub(super) fn get(&self, store: &Store, ns: Option<&str>, name: &str) -> Res<Arc<Value>> {
        self.out(store.get(&self.storage, ns, name), name)
    }

    pub(super) fn create(
        &self,
        store: &Store,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Res<Arc<Value>> {
        Store::check_body(self.info, ns, &mut obj)?;
        events_v1::validate_create(&obj)?;
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let created = store.create_with(&self.storage, ns, events_v1::to_core(&obj), opts);
        self.out(created, &name)
    }

    pub(super) fn update(
        &self,
        store: &Store,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Res<Arc<Value>> {
        Store::check_body(self.info, ns, &mut obj)?;
        let updated = store.update_with(
            &self.storage,
            ns,
            name,
            events_v1::to_core(&obj),
            false,
            opts,
        );
        self.out(updated, name)
    }

    pub(super) fn delete(
        &self,
        store: &Store,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Res<Arc<Value>> {
        self.out(store.delete(&self.storage, ns, name, opts), name)
    }

    pub(super) fn list(
        &self,
        store: &Store,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Res<ListPage> {
        let mut page = store.list(&self.storage, ns, &self.list_options(opts)?)?;
        for item in &mut page.items {
            *item = Arc::new(events_v1::from_core(item));
        }
        Ok(page)
    }

    /// Watch items carry the stored (core) objects; the watch stream renders them in the
    /// view's form ([`crate::respond::render`]).
    pub(super) fn watch(
        &self,
        store: &Store,
        ns: Option<&str>,
        opts: &ListOptions,
        start: WatchStart,
    ) -> Res<Watch> {
        store.watch(&self.storage, ns, &self.list_options(opts)?, start)
    }
}
