//! PATCH: merge, JSON, strategic merge and server-side apply, retried on conflicts the patch
//! did not ask for.

use serde_json::{Value, json};

use super::{Req, Res, content_type, truthy};
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::patch;
use crate::resources::ResourceInfo;

impl Req<'_> {
    /// Applies a PATCH; retries on a conflict the patch itself did not ask for, as the real
    /// API does.
    pub(super) fn patch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        status_only: bool,
    ) -> Res<(u16, std::sync::Arc<Value>)> {
        let opts = self.write_options("patch")?;
        let ctype = content_type(self.headers);
        let body = &self.body;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(StatusError::bad_request("the patch body is empty"));
        }
        let parse_json = || -> Res<Value> {
            serde_json::from_slice(body)
                .map_err(|e| StatusError::bad_request(format!("the patch is not valid JSON: {e}")))
        };
        enum Kind {
            Merge,
            Json,
            Strategic,
            Apply,
        }
        let (kind, doc) = match ctype.as_str() {
            "application/merge-patch+json" => (Kind::Merge, parse_json()?),
            "application/json-patch+json" => (Kind::Json, parse_json()?),
            "application/strategic-merge-patch+json" if !info.custom => {
                (Kind::Strategic, parse_json()?)
            }
            "application/apply-patch+yaml" => (
                Kind::Apply,
                serde_yaml::from_slice::<Value>(body).map_err(|e| {
                    StatusError::bad_request(format!(
                        "the apply configuration is not valid YAML: {e}"
                    ))
                })?,
            ),
            other => {
                return Err(StatusError::new(
                    Reason::UnsupportedMediaType,
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{} (got {other:?})",
                        if info.custom {
                            ""
                        } else {
                            ", application/strategic-merge-patch+json"
                        }
                    ),
                ));
            }
        };
        let pins_version = match kind {
            Kind::Json => doc.as_array().is_some_and(|ops| {
                ops.iter()
                    .any(|op| op["path"].as_str() == Some("/metadata/resourceVersion"))
            }),
            _ => doc["metadata"]["resourceVersion"].is_string(),
        };
        if let Kind::Apply = kind {
            meta::check_shape(&doc)?;
            let manager = self.query.get("fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| {
                StatusError::new(Reason::Invalid, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
            })?;
            if doc["apiVersion"].as_str() != Some(&info.api_version())
                || doc["kind"].as_str() != Some(&info.kind)
            {
                return Err(StatusError::bad_request(format!(
                    "the apply configuration must have apiVersion {} and kind {}",
                    info.api_version(),
                    info.kind
                )));
            }
            let body_name = meta::name(&doc);
            if !body_name.is_empty() && body_name != name {
                return Err(StatusError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            let force = truthy(self.query.get("force"));
            for _ in 0..16 {
                let mut applied = doc.clone();
                meta::meta_mut(&mut applied).insert("name".into(), json!(name));
                let now = meta::now();
                let api_version = info.api_version();
                let req = patch::ApplyRequest {
                    applied: &applied,
                    manager,
                    force,
                    keyed_lists: !info.custom,
                    api_version: &api_version,
                    now: &now,
                };
                let result = match self.store().get(info, ns, name) {
                    Err(e) if e.reason == Reason::NotFound && !status_only => {
                        let obj = patch::apply(None, &req)?;
                        match self.store().create_with(info, ns, obj, &opts) {
                            Err(e) if e.reason == Reason::AlreadyExists => continue,
                            other => other.map(|o| (201, o)),
                        }
                    }
                    Err(e) => Err(e),
                    Ok(live) => {
                        let mut merged = patch::apply(Some(&live), &req)?;
                        if !pins_version {
                            meta::meta_mut(&mut merged).insert(
                                "resourceVersion".into(),
                                json!(meta::resource_version(&live)),
                            );
                        }
                        self.store()
                            .update_with(info, ns, name, merged, status_only, &opts)
                            .map(|o| (200, o))
                    }
                };
                match result {
                    Err(e) if e.reason == Reason::Conflict && !pins_version => continue,
                    other => return other,
                }
            }
            return Err(StatusError::internal(
                "too many concurrent writes to this object",
            ));
        }
        for _ in 0..16 {
            let live = self.store().get(info, ns, name)?;
            let mut obj = (*live).clone();
            match kind {
                Kind::Merge => {
                    if !doc.is_object() {
                        return Err(StatusError::bad_request(
                            "a merge patch must be a JSON object",
                        ));
                    }
                    json_patch::merge(&mut obj, &doc)
                }
                Kind::Json => patch::json_patch(&mut obj, &doc)?,
                Kind::Strategic => patch::strategic_merge(&mut obj, &doc)?,
                Kind::Apply => {}
            }
            match self
                .store()
                .update_with(info, ns, name, obj, status_only, &opts)
            {
                Err(e) if e.reason == Reason::Conflict && !pins_version => continue,
                other => return other.map(|o| (200, o)),
            }
        }
        Err(StatusError::internal(
            "too many concurrent writes to this object",
        ))
    }
}
