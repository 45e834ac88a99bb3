//! The Compute Engine REST front: `/compute/v1/projects/{project}/...` on the mock cloud's
//! port, JSON in and out. Each call is named by its API method (`instances.get`,
//! `zoneOperations.wait`), logged as `compute:<method>` with its caller, passed through the
//! fault engine (429 `rateLimitExceeded`, 5xx, latency, dropped connections,
//! `operation_running`), then answered by [`crate::gcp::GcpState`].
//!
//! With IAM (`gcp.iam` in the world file, see [`crate::gcp::perms`]) a call whose permission
//! the caller's role lacks is refused with 403 `forbidden` before it does anything, and is
//! marked denied in the call log.
//!
//! The caller is the bearer token's service account when the token came from the metadata
//! server (`ya29.mockcloud.<email>`), otherwise the token itself, or `anonymous`.
//! URLs in answers use the address the client called (its `Host`), so selfLinks lead back
//! to the mock cloud.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use http::header;
use serde_json::Value;
use tracing::debug;

use crate::calllog::ANONYMOUS;
use crate::gcp::{API_BASE, Call, GcpError, method_name, ops};
use crate::wire::{Received, Resp, Shared, respond, scoped_segments};

/// The prefix of the tokens the metadata server hands out; the rest is the service account.
pub const TOKEN_PREFIX: &str = "ya29.mockcloud.";

pub const PATH_PREFIX: &str = "/compute/v1/projects/";

/// The caller a request's `Authorization` header names.
pub fn caller_of(authorization: Option<&str>) -> String {
    match authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
    {
        Some(t) if t.starts_with(TOKEN_PREFIX) && t.len() > TOKEN_PREFIX.len() => {
            t[TOKEN_PREFIX.len()..].to_string()
        }
        Some(t) if !t.is_empty() => t.to_string(),
        _ => ANONYMOUS.to_string(),
    }
}

fn json_resp(status: u16, v: &Value, base: &str) -> Resp {
    let text = v.to_string().replace(API_BASE, base);
    respond(status, "application/json; charset=UTF-8", text)
}

fn error(e: &GcpError, base: &str) -> Resp {
    json_resp(e.code, &e.to_json(), base)
}

/// The answer, or None when a `drop` fault closes the connection.
pub(crate) async fn handle(shared: &Shared, rx: Received) -> Option<Resp> {
    let host = rx.header(header::HOST).unwrap_or("www.googleapis.com");
    let base = format!("http://{host}/compute/v1/");
    let rest = rx.path.strip_prefix(PATH_PREFIX).unwrap_or_default();
    let (project, segments) = scoped_segments(rest, str::to_string);
    let query = rx.query_map();
    let body = if rx.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let text = String::from_utf8_lossy(&rx.body).replace(&base, API_BASE);
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                let e = GcpError::bad_request(format!("Invalid JSON payload received. {e}"));
                return Some(error(&e, &base));
            }
        }
    };
    let method = rx.method.as_str().to_string();
    let action = method_name(&method, &segments);
    let caller = caller_of(rx.header(header::AUTHORIZATION));
    let outcome = shared.admit("compute", &action, &caller).await?;
    if let Some(e) = outcome.error {
        let e = GcpError::new(e.status, &e.code, e.message);
        return Some(error(&e, &base));
    }
    let deadline = Instant::now() + Duration::from_millis(ops::WAIT_CAP_MS);
    loop {
        let result = {
            let mut cloud = shared.lock();
            if project != cloud.gcp.project {
                let e = GcpError::not_found(&format!("projects/{project}"));
                return Some(error(&e, &base));
            }
            let now = Instant::now();
            let call = Call {
                method: method.clone(),
                segments: segments.clone(),
                query: query.clone(),
                body: body.clone(),
                now_ms: cloud.now_ms(now),
                user: caller.clone(),
                running_ms: outcome.running_ms,
            };
            if let Err(e) = cloud.gcp.authorize(&call) {
                cloud
                    .call_log
                    .mark_denied(&caller, &format!("compute:{action}"));
                return Some(error(&e, &base));
            }
            std::panic::catch_unwind(AssertUnwindSafe(|| cloud.gcp.handle(&call)))
                .unwrap_or_else(|_| Err(GcpError::server(500, None)))
        };
        let v = match result {
            Ok(v) => v,
            Err(e) => {
                debug!(%action, reason = %e.reason, "Request failed");
                return Some(error(&e, &base));
            }
        };
        // `wait` holds until the operation is done, or answers it as it is after the cap.
        if action.ends_with("Operations.wait")
            && v["status"] == "RUNNING"
            && Instant::now() < deadline
        {
            let waiting = {
                let cloud = shared.lock();
                let path = v["selfLink"].as_str().and_then(|u| cloud.gcp.path_of(u));
                let now_ms = cloud.now_ms(Instant::now());
                path.and_then(|p| ops::done_at(&cloud.gcp, &p))
                    .map(|d| d.saturating_sub(now_ms))
            };
            if let Some(ms) = waiting {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(Duration::from_millis(ms.max(1)).min(left)).await;
                continue;
            }
        }
        return Some(json_resp(200, &v, &base));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_the_tokens_service_account_or_the_token() {
        assert_eq!(
            caller_of(Some("Bearer ya29.mockcloud.sa@p.iam.gserviceaccount.com")),
            "sa@p.iam.gserviceaccount.com"
        );
        assert_eq!(caller_of(Some("Bearer test-token")), "test-token");
        assert_eq!(caller_of(None), ANONYMOUS);
        assert_eq!(caller_of(Some("AWS4-HMAC-SHA256 Credential=X")), ANONYMOUS);
    }
}
