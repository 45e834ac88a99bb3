//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) for the built-in kinds.
//!
//! ```text
//!  body = "k8s\0" ++ runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}
//!                                                                  │
//!        raw = the object's message (k8s.io.api.<group>.<version>.<Kind>) without TypeMeta
//! ```
//!
//! The messages come from the upstream `.proto` files (vendored under `proto/`, compiled by
//! `build.rs`) and are read and written with `prost-reflect`; [`convert`] maps them to and
//! from the JSON form the store keeps, with the apimachinery types whose JSON differs from
//! their message (`Time`, `MicroTime`, `IntOrString`, `Quantity`, `FieldsV1`,
//! `RawExtension`). Custom resources and CRDs have no protobuf form, as in the real API.

pub mod convert;
pub mod envelope;

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

use crate::error::{Reason, StatusError};

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.binpb"))[..])
        .map_err(|e| e.to_string())
});

/// The compiled Kubernetes schemas.
pub(crate) fn pool() -> Result<&'static DescriptorPool, StatusError> {
    POOL.as_ref().map_err(|e| {
        StatusError::internal(format!("the protobuf schemas could not be loaded: {e}"))
    })
}

/// The protobuf package of an API group version: `apps/v1` -> `k8s.io.api.apps.v1`,
/// `v1` -> `k8s.io.api.core.v1`, `rbac.authorization.k8s.io/v1` -> `k8s.io.api.rbac.v1`.
fn package(api_version: &str) -> Option<String> {
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    if version.is_empty() || version.contains('/') {
        return None;
    }
    let short = match group {
        "" => "core",
        g if g.contains('.') && !g.ends_with(".k8s.io") => return None,
        g => g.split('.').next().unwrap_or(g),
    };
    Some(format!("k8s.io.api.{short}.{version}"))
}

/// The message of `kind` in `api_version`; the meta.k8s.io kinds (`Status`,
/// `DeleteOptions`, ...) are found under any group version, as the real API registers them.
pub(crate) fn message(api_version: &str, kind: &str) -> Result<MessageDescriptor, StatusError> {
    let pool = pool()?;
    let unknown = || {
        StatusError::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - {api_version}, Kind={kind} has no protobuf form on this server; accepted media types include: application/json, application/yaml"
            ),
        )
    };
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(unknown());
    }
    package(api_version)
        .and_then(|p| pool.get_message_by_name(&format!("{p}.{kind}")))
        .or_else(|| {
            pool.get_message_by_name(&format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}"))
        })
        .ok_or_else(unknown)
}

/// Whether objects of `api_version`/`kind` can be served as protobuf.
pub fn supports(api_version: &str, kind: &str) -> bool {
    message(api_version, kind).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_of_group_versions() {
        assert_eq!(package("v1").as_deref(), Some("k8s.io.api.core.v1"));
        assert_eq!(package("apps/v1").as_deref(), Some("k8s.io.api.apps.v1"));
        assert_eq!(
            package("rbac.authorization.k8s.io/v1").as_deref(),
            Some("k8s.io.api.rbac.v1")
        );
        assert_eq!(package("example.com/v1"), None);
        assert_eq!(package(""), None);
    }

    #[test]
    fn built_in_kinds_have_messages_and_custom_ones_do_not() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Pod"),
            ("v1", "ServiceList"),
            ("apps/v1", "Deployment"),
            ("discovery.k8s.io/v1", "EndpointSlice"),
            ("events.k8s.io/v1", "Event"),
            ("v1", "Status"),
            ("v1", "DeleteOptions"),
        ] {
            assert!(supports(api_version, kind), "{api_version} {kind}");
        }
        assert!(!supports("cloudnet.io/v1", "NodeAddresses"));
        assert!(!supports(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition"
        ));
        assert!(!supports("v1", "Nope"));
        assert!(!supports("v1", "k8s.io.api.core.v1.Pod"));
    }
}
