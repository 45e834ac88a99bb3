//! Write hooks that run inside the store lock, like the real API's registry strategies and
//! admission plugins.

use serde_json::Value;

use crate::error::StatusError;
use crate::resources::ResourceInfo;

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
    /// Called when a dry-run create that `on_create` admitted is discarded: gives back what
    /// `on_create` reserved for `obj` (addresses, ports).
    fn on_discard(&self, _info: &ResourceInfo, _obj: &Value) {}
}
