//! The Azure Resource Manager front: HTTPS on its own port (`--arm-listen`), certificates
//! from the mock's CA ([`crate::tls`]), JSON in and out, `/subscriptions/{s}/...`.
//!
//! Every request needs a bearer token (401 `AuthenticationFailed` without one); tokens are
//! not verified. The caller in the call log is the token's `oid` (or `appid`, or `sub`) claim
//! when it is a JWT, as the IMDS and workload-identity tokens are, else [`OPAQUE_CALLER`].
//! Each call is named by its RBAC operation (`Microsoft.Network/virtualNetworks/subnets/write`,
//! what a custom role lists), logged as `arm:<operation>`, passed through the fault engine
//! (429 `TooManyRequests` with `Retry-After`, 5xx, latency, dropped connections,
//! `operation_running`), counted against the subscription's hourly read or write budget
//! (`x-ms-ratelimit-remaining-subscription-reads`/`-writes` on every answer, 429 when spent),
//! then answered by [`crate::azure::AzureState`] on a blocking thread (the cloud's lock is
//! never waited for or held on a runtime worker). With RBAC (`azure.rbac` in the world file)
//! a call whose action (or a linked `join` action) the caller's role lacks is refused with
//! ARM's 403 `AuthorizationFailed` / `LinkedAuthorizationFailed` before it does anything
//! (see [`crate::azure::actions`]) and marked denied in the call log. URLs in answers use the address the client
//! called.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use http::{Request, header};
use hyper::body::Incoming;
use serde_json::Value;
use tracing::debug;

use crate::azure::{ARM_BASE, AzError, Call};
use crate::wire::{BodyError, Dropped, Received, Resp, Shared, respond, scoped_segments};

/// The caller of a request whose bearer token is not a JWT.
pub const OPAQUE_CALLER: &str = "opaque-bearer-token";

/// The caller a request's `Authorization` header names; None without a bearer token.
pub fn caller_of(authorization: Option<&str>) -> Option<String> {
    let token = authorization?.strip_prefix("Bearer ")?.trim();
    if token.is_empty() {
        return None;
    }
    let claims = token.split('.').nth(1).and_then(|p| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()
    });
    let named = claims.and_then(|c| {
        ["oid", "appid", "sub"]
            .iter()
            .find_map(|k| c[*k].as_str().filter(|v| !v.is_empty()).map(str::to_string))
    });
    Some(named.unwrap_or_else(|| OPAQUE_CALLER.to_string()))
}

/// The RBAC operation of a request: `{namespace}/{type}[/{child type}...]/{read|write|delete}`.
pub fn operation_name(method: &str, segments: &[String]) -> String {
    let Some(p) = segments.iter().position(|s| s == "providers") else {
        return match (method, segments.len()) {
            (_, 0) => "Microsoft.Resources/subscriptions/read".to_string(),
            _ => "Microsoft.Resources/subscriptions/resourceGroups/read".to_string(),
        };
    };
    let rest = &segments[p + 1..];
    let mut parts: Vec<&str> = Vec::new();
    if let Some(ns) = rest.first() {
        parts.push(ns);
    }
    // Types sit at odd offsets after the namespace: ns/type/name/type/name...
    parts.extend(rest.iter().skip(1).step_by(2).map(String::as_str));
    let verb = match method {
        "GET" | "HEAD" => "read",
        "DELETE" => "delete",
        "POST" => "action",
        _ => "write",
    };
    format!("{}/{verb}", parts.join("/"))
}

fn json_resp(status: u16, v: Option<&Value>, base: &str) -> Resp {
    match v {
        Some(v) => respond(
            status,
            "application/json; charset=utf-8",
            v.to_string().replace(ARM_BASE, base),
        ),
        None => respond(status, "application/json; charset=utf-8", ""),
    }
}

fn error(e: &AzError, base: &str) -> Resp {
    json_resp(e.status, Some(&e.to_json()), base)
}

fn add_header(r: &mut Resp, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        header::HeaderName::from_bytes(name.as_bytes()),
        header::HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

fn throttled(kind: &str, retry_after: u64, budget_header: &str, base: &str) -> Resp {
    let mut r = error(&AzError::throttled(kind), base);
    add_header(&mut r, "retry-after", &retry_after.to_string());
    add_header(&mut r, budget_header, "0");
    r
}

/// The answer, or None when a `drop` fault closes the connection.
pub(crate) async fn handle(shared: &Arc<Shared>, rx: Received) -> Option<Resp> {
    let host = rx.header(header::HOST).unwrap_or("management.azure.com");
    let base = format!("https://{host}");
    let Some(rest) = rx.path.strip_prefix("/subscriptions/") else {
        let e = AzError::new(
            404,
            "InvalidRequestUri",
            format!("The request URI '{}' is not valid.", rx.path),
        );
        return Some(error(&e, &base));
    };
    let Some(caller) = caller_of(rx.header(header::AUTHORIZATION)) else {
        let e = AzError::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
        let mut r = error(&e, &base);
        add_header(
            &mut r,
            "www-authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"",
        );
        return Some(r);
    };
    let (subscription, segments) = scoped_segments(rest, |s| s.replace("%20", " "));
    let query = rx.query_map();
    let body = if rx.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&rx.body) {
            Ok(v) => Some(v),
            Err(e) => {
                let e = AzError::bad(
                    "InvalidRequestContent",
                    format!(
                        "The request content was invalid and could not be deserialized: '{e}'."
                    ),
                );
                return Some(error(&e, &base));
            }
        }
    };
    let method = rx.method.as_str().to_string();
    let action = operation_name(&method, &segments);
    let write = !matches!(method.as_str(), "GET" | "HEAD");
    let budget_header = if write {
        "x-ms-ratelimit-remaining-subscription-writes"
    } else {
        "x-ms-ratelimit-remaining-subscription-reads"
    };
    let kind = if write { "Write" } else { "Read" };
    let outcome = shared.admit("arm", &action, &caller).await?;
    if let Some(e) = outcome.error {
        if e.status == 429 {
            return Some(throttled(kind, 1, budget_header, &base));
        }
        return Some(error(&AzError::new(e.status, &e.code, e.message), &base));
    }
    let header = |name: &str| rx.header(name).map(str::to_string);
    let call = Call {
        method: method.clone(),
        segments,
        api_version: query.get("api-version").cloned(),
        if_match: header("if-match"),
        if_none_match: header("if-none-match"),
        query,
        body,
        now_ms: 0,
        running_ms: outcome.running_ms,
    };
    let answer_base = base.clone();
    let op = action.clone();
    let answered = shared
        .with_cloud(move |cloud| {
            let (base, action) = (answer_base, op);
            if subscription != cloud.azure.subscription {
                let e = AzError::new(
                    404,
                    "SubscriptionNotFound",
                    format!("The subscription '{subscription}' could not be found."),
                );
                return Err(Box::new(error(&e, &base)));
            }
            let mut call = call;
            call.now_ms = cloud.now_ms(Instant::now());
            if let Err(e) = cloud.azure.authorize(&caller, &call, &action) {
                cloud
                    .call_log
                    .mark_denied(&caller, &format!("arm:{action}"));
                return Err(Box::new(error(&e, &base)));
            }
            let remaining = match cloud.azure.spend(write, call.now_ms) {
                Ok(r) => r,
                Err(secs) => return Err(Box::new(throttled(kind, secs, budget_header, &base))),
            };
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| cloud.azure.handle(&call)))
                .unwrap_or_else(|_| Err(AzError::server(500, None)));
            Ok((result, remaining, cloud.azure.guid()))
        })
        .await?;
    let (result, remaining, request_id) = match answered {
        Ok(a) => a,
        Err(r) => return Some(*r),
    };
    let mut r = match result {
        Ok(reply) => {
            let mut r = json_resp(reply.status, reply.body.as_ref(), &base);
            for (k, v) in &reply.headers {
                add_header(&mut r, k, &v.replace(ARM_BASE, &base));
            }
            r
        }
        Err(e) => {
            debug!(%action, code = %e.code, "Request failed");
            error(&e, &base)
        }
    };
    add_header(&mut r, budget_header, &remaining.to_string());
    add_header(&mut r, "x-ms-request-id", &request_id);
    add_header(&mut r, "x-ms-correlation-request-id", &request_id);
    Some(r)
}

fn receive_error(e: BodyError) -> AzError {
    match e {
        BodyError::Timeout => AzError::new(
            408,
            "RequestTimeout",
            "The request body was not received in time.",
        ),
        BodyError::TooLarge(limit) => AzError::new(
            413,
            "RequestEntityTooLarge",
            format!("The request body exceeds {limit} bytes."),
        ),
        BodyError::Unreadable => AzError::bad(
            "InvalidRequestContent",
            "The request body could not be read.",
        ),
    }
}

/// Answers one request of the HTTPS listener.
pub(crate) async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    match Received::read(&shared, req).await {
        Ok(rx) => handle(&shared, rx).await.ok_or(Dropped),
        Err(e) => Ok(error(&receive_error(e), ARM_BASE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_the_tokens_object_id() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"oid":"1111-2222","appid":"app"}"#);
        let jwt = format!("Bearer eyJhbGciOiJub25lIn0.{claims}.sig");
        assert_eq!(caller_of(Some(&jwt)).as_deref(), Some("1111-2222"));
        assert_eq!(
            caller_of(Some("Bearer not-a-jwt")).as_deref(),
            Some(OPAQUE_CALLER)
        );
        assert_eq!(caller_of(None), None);
        assert_eq!(caller_of(Some("Basic abc")), None);
    }

    #[test]
    fn operations_are_named_as_rbac_actions() {
        let segs = |p: &str| p.split('/').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            operation_name(
                "PUT",
                &segs("resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
            ),
            "Microsoft.Network/virtualNetworks/subnets/write"
        );
        assert_eq!(
            operation_name(
                "GET",
                &segs("providers/Microsoft.Network/locations/eastus/operations/x")
            ),
            "Microsoft.Network/locations/operations/read"
        );
        assert_eq!(
            operation_name(
                "DELETE",
                &segs("resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb")
            ),
            "Microsoft.Network/loadBalancers/delete"
        );
    }
}
