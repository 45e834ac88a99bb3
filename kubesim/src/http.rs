//! The HTTP front: authentication, routing, body decoding, and the verbs over the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, Method, header};
use serde_json::{Value, json};

use crate::auth::{Access, Auth};
use crate::discovery;
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::openapi;
use crate::patch;
use crate::protobuf;
use crate::resources::ResourceInfo;
use crate::respond::{Format, error_response, json_response, list_doc, object_response, render};
use crate::route::{self, ResourcePath, Target};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{DeleteOptions, ListOptions, Store, WriteOptions};
use crate::table;
use crate::watch;

type Res<T> = std::result::Result<T, StatusError>;

/// Settings of the HTTP front.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted request body (the real API's is 3 MiB).
    pub max_body_bytes: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// `host:port` reported in `/api`.
    pub server_address: String,
}

/// Shared state of the request handlers.
pub struct App {
    pub store: Arc<Store>,
    pub auth: Arc<Auth>,
    pub settings: Settings,
}

/// The router serving the whole API.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

fn not_found_path() -> StatusError {
    StatusError::new(
        Reason::NotFound,
        "the server could not find the requested resource",
    )
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let target = route::parse(&path);
    if target == Target::Health {
        let mut ok = Response::new(Body::from("ok"));
        ok.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        return ok;
    }
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let Some(identity) = app.auth.authenticate(authorization) else {
        tracing::debug!(%method, path, "Rejected a request without a known token");
        return error_response(&StatusError::unauthorized());
    };
    let limit = app.settings.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_mul(8)) {
        return error_response(&StatusError::too_large(limit));
    }
    let body = match read_body(body, limit).await {
        Ok(b) => b,
        Err(error) => return error_response(&error),
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let request = Req {
        app: &app,
        identity: &identity.name,
        method: &method,
        headers: &parts.headers,
        query: &query,
        body,
    };
    let response = match request.dispatch(target).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    tracing::debug!(%method, path, identity = identity.name, status = response.status().as_u16(), "Served a request");
    response
}

/// Reads the body; past `limit` it keeps draining (up to a hard cap) so the client gets the
/// 413 instead of a reset connection.
async fn read_body(body: Body, limit: usize) -> Res<Bytes> {
    use http_body_util::BodyExt;
    let hard_cap = limit.saturating_mul(8);
    let mut body = body;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| StatusError::bad_request(format!("failed to read the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total > hard_cap {
                break;
            }
            if total <= limit {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > limit {
        return Err(StatusError::too_large(limit));
    }
    Ok(Bytes::from(buf))
}

struct Req<'a> {
    app: &'a Arc<App>,
    identity: &'a str,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: &'a HashMap<String, String>,
    body: Bytes,
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a JSON or YAML body.
fn decode(body: &[u8], ctype: &str) -> Res<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(StatusError::bad_request("the request body is empty"));
    }
    match ctype {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("Object is not decodable as JSON: {e}"))),
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("Object is not decodable as YAML: {e}"))),
        protobuf::MEDIA_TYPE => protobuf::envelope::decode(body),
        other => Err(StatusError::unsupported_media_type(other)),
    }
}

impl Req<'_> {
    fn store(&self) -> &Store {
        &self.app.store
    }

    /// `dryRun` of the query: only `All` exists; reads ignore it, as the real API does.
    fn dry_run(&self, verb: &str) -> Res<bool> {
        let options = match verb {
            "create" => "CreateOptions",
            "update" => "UpdateOptions",
            "patch" => "PatchOptions",
            "delete" | "deletecollection" => "DeleteOptions",
            _ => return Ok(false),
        };
        match self.query.get("dryRun").map(String::as_str) {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(StatusError::new(
                Reason::Invalid,
                format!(
                    "{options}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"{other}\"]: supported values: \"All\""
                ),
            )),
        }
    }

    fn write_options(&self, verb: &str) -> Res<WriteOptions> {
        Ok(WriteOptions {
            dry_run: self.dry_run(verb)?,
        })
    }

    /// An object or list in the format the client's `Accept` prefers.
    fn respond(&self, code: u16, body: &Value) -> Response {
        object_response(code, body, Format::negotiate(self.headers))
    }

    async fn dispatch(self, target: Target) -> Res<Response> {
        let registry = || self.store().registry();
        let get_only = |doc: Option<Value>| -> Res<Response> {
            if self.method != Method::GET {
                return Err(StatusError::method_not_allowed(format!(
                    "{} is not allowed on this path",
                    self.method
                )));
            }
            doc.map(|d| json_response(200, &d))
                .ok_or_else(not_found_path)
        };
        match target {
            Target::Version => get_only(Some(discovery::version())),
            Target::CoreVersions => get_only(Some(discovery::core_versions(
                &self.app.settings.server_address,
            ))),
            Target::Groups => get_only(Some(discovery::groups(&registry()))),
            Target::Group(g) => get_only(discovery::group(&registry(), &g)),
            Target::GroupVersion { group, version } => {
                get_only(discovery::resource_list(&registry(), &group, &version))
            }
            Target::Audit => {
                let audit = serde_json::to_value(self.app.auth.audit())
                    .map_err(|e| StatusError::internal(e.to_string()))?;
                get_only(Some(audit))
            }
            Target::OpenApi(rest) if rest.is_empty() => get_only(Some(openapi::root(&registry()))),
            Target::OpenApi(rest) => get_only(openapi::group_version(&registry(), &rest)),
            Target::Unknown | Target::Health => Err(not_found_path()),
            Target::Resource(path) => self.resource(path).await,
        }
    }

    fn verb(&self, path: &ResourcePath) -> &'static str {
        match (self.method.clone(), path.name.is_some()) {
            (Method::GET, true) => "get",
            (Method::GET, false) if truthy(self.query.get("watch")) => "watch",
            (Method::GET, false) => "list",
            (Method::POST, _) => "create",
            (Method::PUT, _) => "update",
            (Method::PATCH, _) => "patch",
            (Method::DELETE, true) => "delete",
            (Method::DELETE, false) => "deletecollection",
            _ => "unknown",
        }
    }

    /// The Table the client asked for in `Accept`, if any.
    fn table_request(&self) -> Res<Option<table::TableRequest>> {
        table::negotiate(
            self.headers,
            self.query.get("includeObject").map(String::as_str),
        )
    }

    /// How `info`'s objects are printed; custom resources use their CRD's columns.
    fn printer(&self, info: &ResourceInfo) -> table::Printer {
        let crd = info
            .custom
            .then(|| {
                let crds = self
                    .store()
                    .resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")?;
                self.store()
                    .get(&crds, None, &format!("{}.{}", info.plural, info.group))
                    .ok()
            })
            .flatten();
        table::printer_for(info, crd.as_deref())
    }

    fn list_options(&self) -> Res<ListOptions> {
        Ok(ListOptions {
            labels: LabelSelector::parse(self.query.get("labelSelector").map_or("", |s| s))?,
            fields: FieldSelector::parse(self.query.get("fieldSelector").map_or("", |s| s))?,
            limit: match self.query.get("limit") {
                Some(l) => Some(
                    l.parse()
                        .map_err(|_| StatusError::bad_request(format!("invalid limit {l:?}")))?,
                ),
                None => None,
            },
            continue_token: self.query.get("continue").cloned(),
        })
    }

    async fn resource(self, path: ResourcePath) -> Res<Response> {
        let verb = self.verb(&path);
        let resource = match &path.subresource {
            Some(sub) => format!("{}/{sub}", path.plural),
            None => path.plural.clone(),
        };
        self.app.auth.record(
            self.identity,
            Access {
                verb: verb.into(),
                group: path.group.clone(),
                resource,
                namespace: path.namespace.clone(),
            },
        );
        let info = self
            .store()
            .lookup(&path.group, &path.version, &path.plural)
            .ok_or_else(not_found_path)?;
        if path.namespace.is_some() && !info.namespaced {
            return Err(not_found_path());
        }
        self.dry_run(verb)?;
        let ns = path.namespace.as_deref();
        match (&path.name, path.subresource.as_deref()) {
            (None, _) => self.collection(&info, ns, verb).await,
            (Some(name), None) => self.object(&info, ns, name, verb, false),
            (Some(name), Some("status")) if info.status => self.object(&info, ns, name, verb, true),
            (Some(name), Some("scale")) if info.scale => self.scale(&info, ns, name, verb),
            (Some(name), Some("binding")) if info.plural == "pods" && info.group.is_empty() => {
                self.bind(&info, ns, name, verb)
            }
            (Some(name), Some("finalize"))
                if info.plural == "namespaces" && info.group.is_empty() =>
            {
                self.finalize(name, verb)
            }
            (
                Some(_),
                Some(
                    sub @ ("log"
                    | "exec"
                    | "attach"
                    | "portforward"
                    | "proxy"
                    | "eviction"
                    | "ephemeralcontainers"
                    | "resize"
                    | "token"),
                ),
            ) => Err(StatusError::method_not_allowed(format!(
                "the {sub} subresource is not supported by this API server"
            ))),
            _ => Err(not_found_path()),
        }
    }

    fn needs_namespace(&self, info: &ResourceInfo, ns: Option<&str>) -> Res<()> {
        if info.namespaced && ns.is_none() {
            return Err(StatusError::method_not_allowed(format!(
                "{} of namespaced {} needs a namespace in the path",
                self.method, info.plural
            )));
        }
        Ok(())
    }

    async fn collection(&self, info: &ResourceInfo, ns: Option<&str>, verb: &str) -> Res<Response> {
        match verb {
            "list" => {
                let table = self.table_request()?;
                let page = self.store().list(info, ns, &self.list_options()?)?;
                let doc = list_doc(
                    info,
                    &page.items,
                    page.resource_version,
                    page.continue_token,
                    page.remaining,
                );
                Ok(match table {
                    Some(t) => json_response(
                        200,
                        &t.table(
                            &self.printer(info),
                            info,
                            &page.items,
                            doc["metadata"].clone(),
                            true,
                        ),
                    ),
                    None => self.respond(200, &doc),
                })
            }
            "watch" => {
                let table = self.table_request()?.map(|t| (t, self.printer(info)));
                Ok(watch::serve(
                    self.app.store.clone(),
                    info.clone(),
                    ns.map(str::to_string),
                    self.list_options()?,
                    self.query,
                    self.app.settings.bookmark_interval,
                    table,
                ))
            }
            "create" => {
                self.needs_namespace(info, ns)?;
                let obj = decode(&self.body, &content_type(self.headers))?;
                let created =
                    self.store()
                        .create_with(info, ns, obj, &self.write_options("create")?)?;
                Ok(self.respond(201, &render(info, &created)))
            }
            "deletecollection" => {
                let opts = self.list_options()?;
                let page = self.store().list(
                    info,
                    ns,
                    &ListOptions {
                        limit: None,
                        continue_token: None,
                        ..opts
                    },
                )?;
                let mut gone = Vec::new();
                for obj in page.items {
                    let target_ns = Some(meta::namespace(&obj)).filter(|n| !n.is_empty());
                    match self.store().delete(
                        info,
                        target_ns,
                        meta::name(&obj),
                        &DeleteOptions {
                            dry_run: self.dry_run(verb)?,
                            ..DeleteOptions::default()
                        },
                    ) {
                        Ok(o) => gone.push(o),
                        Err(e) if e.reason == Reason::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                let rv = self.store().resource_version();
                Ok(self.respond(200, &list_doc(info, &gone, rv, None, None)))
            }
            _ => Err(StatusError::method_not_allowed(format!(
                "{} is not allowed on a collection",
                self.method
            ))),
        }
    }

    fn object(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        verb: &str,
        status_only: bool,
    ) -> Res<Response> {
        self.needs_namespace(info, ns)?;
        match verb {
            "get" => {
                let table = if status_only {
                    None
                } else {
                    self.table_request()?
                };
                let obj = self.store().get(info, ns, name)?;
                Ok(match table {
                    Some(t) => json_response(
                        200,
                        &t.table(&self.printer(info), info, &[obj], json!({}), true),
                    ),
                    None => self.respond(200, &render(info, obj.as_ref())),
                })
            }
            "update" => {
                let obj = decode(&self.body, &content_type(self.headers))?;
                let updated = self.store().update_with(
                    info,
                    ns,
                    name,
                    obj,
                    status_only,
                    &self.write_options("update")?,
                )?;
                Ok(self.respond(200, &render(info, &updated)))
            }
            "patch" => {
                let (code, obj) = self.patch(info, ns, name, status_only)?;
                Ok(self.respond(code, &render(info, &obj)))
            }
            "delete" if !status_only => {
                let opts = self.delete_options()?;
                let gone = self.store().delete(info, ns, name, &opts)?;
                Ok(self.respond(200, &render(info, &gone)))
            }
            _ => Err(StatusError::method_not_allowed(format!(
                "{} is not allowed here",
                self.method
            ))),
        }
    }

    fn delete_options(&self) -> Res<DeleteOptions> {
        let body: Value = if self.body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            decode(&self.body, &content_type(self.headers))?
        };
        let policy = body["propagationPolicy"]
            .as_str()
            .or(self.query.get("propagationPolicy").map(String::as_str));
        let str_of = |v: &Value| v.as_str().map(str::to_string);
        let body_dry_run = match &body["dryRun"] {
            Value::Null => false,
            Value::Array(values) if values.iter().all(|v| v == "All") => !values.is_empty(),
            other => {
                return Err(StatusError::new(
                    Reason::Invalid,
                    format!(
                        "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: {other}: supported values: \"All\""
                    ),
                ));
            }
        };
        Ok(DeleteOptions {
            uid: str_of(&body["preconditions"]["uid"]),
            resource_version: str_of(&body["preconditions"]["resourceVersion"]),
            orphan: policy == Some("Orphan") || body["orphanDependents"] == json!(true),
            dry_run: body_dry_run || self.dry_run("delete")?,
        })
    }

    /// Applies a PATCH; retries on a conflict the patch itself did not ask for, as the real
    /// API does.
    fn patch(
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
                    patch::merge_patch(&mut obj, &doc)
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

    fn scale(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        verb: &str,
    ) -> Res<Response> {
        let live = self.store().get(info, ns, name)?;
        let current = scale_doc(&live);
        let wanted = match verb {
            "get" => return Ok(self.respond(200, &current)),
            "update" => decode(&self.body, &content_type(self.headers))?,
            "patch" => {
                let doc: Value = serde_json::from_slice(&self.body).map_err(|e| {
                    StatusError::bad_request(format!("the patch is not valid JSON: {e}"))
                })?;
                let mut scale = current.clone();
                match content_type(self.headers).as_str() {
                    "application/json-patch+json" => patch::json_patch(&mut scale, &doc)?,
                    "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                        patch::merge_patch(&mut scale, &doc)
                    }
                    other => return Err(StatusError::unsupported_media_type(other)),
                }
                scale
            }
            _ => {
                return Err(StatusError::method_not_allowed(
                    "only get, update and patch are allowed on scale",
                ));
            }
        };
        let replicas = wanted["spec"]["replicas"].as_i64().ok_or_else(|| {
            StatusError::new(
                Reason::Invalid,
                "Scale.autoscaling \"\" is invalid: spec.replicas: Required value",
            )
        })?;
        if replicas < 0 {
            return Err(StatusError::invalid(
                "autoscaling",
                "Scale",
                name,
                "spec.replicas",
                "Invalid value: must be greater than or equal to 0",
            ));
        }
        let mut obj = (*live).clone();
        if !obj["spec"].is_object() {
            return Err(StatusError::invalid(
                &info.group,
                &info.kind,
                name,
                "spec",
                "Invalid value: spec must be an object",
            ));
        }
        obj["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str() {
            meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
        }
        let updated =
            self.store()
                .update_with(info, ns, name, obj, false, &self.write_options(verb)?)?;
        Ok(self.respond(200, &scale_doc(&updated)))
    }

    /// `PUT namespaces/{name}/finalize`: only `spec.finalizers` of the body is used.
    fn finalize(&self, name: &str, verb: &str) -> Res<Response> {
        if verb != "update" {
            return Err(StatusError::method_not_allowed(
                "only update is allowed on finalize",
            ));
        }
        let body = decode(&self.body, &content_type(self.headers))?;
        let finalizers = match &body["spec"]["finalizers"] {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(|f| {
                    f.as_str().map(str::to_string).ok_or_else(|| {
                        StatusError::invalid(
                            "",
                            "Namespace",
                            name,
                            "spec.finalizers",
                            "Invalid value: must be strings",
                        )
                    })
                })
                .collect::<Res<Vec<_>>>()?,
            _ => {
                return Err(StatusError::invalid(
                    "",
                    "Namespace",
                    name,
                    "spec.finalizers",
                    "Invalid value: must be a list",
                ));
            }
        };
        if self.dry_run(verb)? {
            let info = self
                .store()
                .resource("v1", "Namespace")
                .ok_or_else(not_found_path)?;
            let mut namespace = (*self.store().get(&info, None, name)?).clone();
            namespace["spec"]["finalizers"] = json!(finalizers);
            return Ok(self.respond(200, &namespace));
        }
        let namespace = self.store().finalize_namespace(name, finalizers)?;
        Ok(self.respond(200, &namespace))
    }

    fn bind(&self, info: &ResourceInfo, ns: Option<&str>, name: &str, verb: &str) -> Res<Response> {
        if verb != "create" {
            return Err(StatusError::method_not_allowed(
                "only create is allowed on binding",
            ));
        }
        let binding = decode(&self.body, &content_type(self.headers))?;
        let node = binding["target"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                StatusError::invalid("", "Binding", name, "target.name", "Required value")
            })?;
        let live = self.store().get(info, ns, name)?;
        let assigned = live["spec"]["nodeName"].as_str().unwrap_or_default();
        if !assigned.is_empty() {
            return Err(StatusError::conflict(
                "",
                "pods",
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        let mut pod = (*live).clone();
        if !pod["spec"].is_object() || !(pod["status"].is_object() || pod["status"].is_null()) {
            return Err(StatusError::invalid(
                "",
                "Pod",
                name,
                "spec",
                "Invalid value: spec and status must be objects",
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        let opts = self.write_options(verb)?;
        self.store()
            .update_with(info, ns, name, pod, false, &opts)?;
        if opts.dry_run {
            return Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ));
        }
        let mut pod = (*self.store().get(info, ns, name)?).clone();
        let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now()});
        let mut conditions = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c["type"] != "PodScheduled");
        conditions.push(condition);
        pod["status"]["conditions"] = json!(conditions);
        self.store().update(info, ns, name, pod, true)?;
        Ok(json_response(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        ))
    }
}

fn scale_doc(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}
