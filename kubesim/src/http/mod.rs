//! The HTTP front: authentication, routing, body decoding, and the verbs over the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, Method, header};
use serde_json::{Value, json};

use crate::auth::{Access, Auth, Denial, Identity};
use crate::discovery;
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::openapi;
use crate::protobuf;
use crate::rbac::{self, Attributes};
use crate::resources::ResourceInfo;
use crate::respond::{Format, error_response, json_response, list_doc, object_response, render};
use crate::route::{self, ResourcePath, Target};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{DeleteOptions, ListOptions, Store, WriteOptions};
use crate::table;
use crate::watch;

mod patching;
mod subresources;

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
    /// Enforce RBAC.
    pub rbac: bool,
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
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let attributes = Attributes::from_request(method.as_str(), &path, &query);
    if let Err(error) = authorize(&app, &identity, &attributes) {
        tracing::debug!(%method, path, identity = identity.name, "Denied a request");
        return error_response(&error);
    }
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
    let request = Req {
        app: &app,
        identity: &identity,
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

/// Records a resource request in the audit and, with RBAC on, refuses it unless allowed.
fn authorize(app: &App, identity: &Identity, attributes: &Attributes) -> Res<()> {
    if let Some(r) = attributes.resource() {
        app.auth.record(
            &identity.name,
            Access {
                verb: attributes.verb.clone(),
                group: r.group.clone(),
                resource: r.combined_resource(),
                namespace: Some(r.namespace.clone()).filter(|n| !n.is_empty()),
            },
        );
    }
    if !app.settings.rbac {
        return Ok(());
    }
    let decision = rbac::authorize(&app.store, identity, attributes);
    if decision.allowed {
        return Ok(());
    }
    let error = attributes.forbidden(&identity.name, &decision.reason);
    app.auth.record_denial(Denial {
        identity: identity.name.clone(),
        message: error.message.clone(),
    });
    Err(error)
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
    identity: &'a Identity,
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
            (Method::GET, false)
                if rbac::attributes::watch_requested(
                    self.query.get("watch").map(String::as_str),
                ) =>
            {
                "watch"
            }
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
        if let Some(review) = self.review(&path)? {
            return Ok(json_response(201, &review));
        }
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

    /// Answers a self-review (`kubectl auth can-i`): POST to its collection, nothing stored.
    fn review(&self, path: &ResourcePath) -> Res<Option<Value>> {
        use rbac::review::{ACCESS_REVIEWS, GROUP, RULES_REVIEWS};
        let plural = path.plural.as_str();
        if path.group != GROUP
            || path.version != "v1"
            || !matches!(plural, ACCESS_REVIEWS | RULES_REVIEWS)
        {
            return Ok(None);
        }
        if *self.method != Method::POST || path.name.is_some() || path.namespace.is_some() {
            return Err(StatusError::method_not_allowed(format!(
                "{} is not allowed on {plural}: it is create only",
                self.method
            )));
        }
        let body = decode(&self.body, &content_type(self.headers))?;
        let store = self.store();
        let answer = if plural == ACCESS_REVIEWS {
            rbac::review::access_review(store, self.identity, &body, self.app.settings.rbac)?
        } else {
            rbac::review::rules_review(store, self.identity, &body, self.app.settings.rbac)?
        };
        Ok(Some(answer))
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
                let encoding =
                    watch::Encoding::choose(table, Format::negotiate(self.headers), info);
                Ok(watch::serve(
                    self.app.store.clone(),
                    info.clone(),
                    ns.map(str::to_string),
                    self.list_options()?,
                    self.query,
                    self.app.settings.bookmark_interval,
                    encoding,
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
}
