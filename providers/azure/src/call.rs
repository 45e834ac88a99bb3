//! Every HTTP request the Network client sends goes through [`CallPolicy`], a policy in the
//! client's own pipeline (azure_core's retry policy is turned off): the rate budget, a count
//! per API method, a span, `If-Match` on writes that carry an ETag, and the retries.
//!
//! ```text
//!  azure_mgmt_network builder ─> pipeline: [no-retry] ─> CallPolicy ─> transport (reqwest)
//!                                             │  budget.acquire(op), count(method)
//!                                             ├─ 429: budget.on_throttled(Retry-After), again
//!                                             └─ 5xx / dropped connection: backoff, again
//! ```
//!
//! Because the policy sits in the pipeline, the requests the client library makes on its own
//! (polling `Azure-AsyncOperation` URLs, the final GET of a long-running PUT) wait their turn
//! in the budget and are counted too. A method is named by its RBAC operation, as the mock
//! cloud's call log and a custom role spell it (`Microsoft.Network/routeTables/write`).

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_core::{Context, Policy, PolicyResult, Request};
pub use cloudnet_core::RetryConfig;
use cloudnet_core::{Op, OpClass, RateBudget, Service};
use tracing::Instrument;

use crate::error::{self, retry_after_of};

/// Requests sent per API method (RBAC operation name): every attempt counts, retries and
/// operation polls included.
#[derive(Debug, Clone, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounts {
    fn add(&self, method: &str) {
        *lock(&self.0).entry(method.to_string()).or_default() += 1;
    }

    /// The count of one method (`Microsoft.Network/routeTables/write`).
    pub fn of(&self, method: &str) -> u64 {
        lock(&self.0).get(method).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.0).clone()
    }

    /// Requests that change the cloud (`write`, `delete`, `action`).
    pub fn mutating(&self) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|(m, _)| !m.ends_with("/read"))
            .map(|(_, v)| *v)
            .sum()
    }

    pub fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

tokio::task_local! {
    /// The ETag a write in this scope must match ([`with_if_match`]).
    static IF_MATCH: Option<String>;
    /// The URL a GET in this scope is sent to instead ([`with_get_url`]).
    static GET_URL: azure_core::Url;
}

/// Runs `f` (a GET builder's `send()`) with its request sent to `url` instead: the URL of an
/// operation ARM answered with (`Location`), which no generated builder reads. Only a URL on
/// the same scheme, host and port as the request's is taken (the bearer token goes nowhere
/// else); another is refused by the policy before anything is sent.
pub async fn with_get_url<F: IntoFuture>(url: azure_core::Url, f: F) -> F::Output {
    GET_URL.scope(url, f.into_future()).await
}

/// Runs `f` with `If-Match: <etag>` on its PUT requests: the write lands only on the version
/// read, else ARM answers 412 `PreconditionFailed` (a `Conflict` the caller re-reads on).
/// The generated builders take no headers, so the policy adds it.
pub async fn with_if_match<F: IntoFuture>(etag: Option<String>, f: F) -> F::Output {
    IF_MATCH.scope(etag, f.into_future()).await
}

/// The RBAC operation of a request: `{namespace}/{type}[/{child type}...]/{verb}`, as the
/// URL path names it (`.../providers/Microsoft.Network/routeTables/rt/routes/r` ->
/// `Microsoft.Network/routeTables/routes`).
pub fn operation_name(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let verb = match method {
        "GET" | "HEAD" => "read",
        "DELETE" => "delete",
        "POST" => "action",
        _ => "write",
    };
    let Some(p) = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))
    else {
        return format!("Microsoft.Resources/subscriptions/{verb}");
    };
    let rest = &segments[p + 1..];
    // Namespaces are case-insensitive; some generated paths spell `microsoft.Compute`.
    let namespace = rest.first().map(|ns| {
        ns.split('.')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(".")
    });
    let mut parts: Vec<&str> = namespace.iter().map(String::as_str).collect();
    parts.extend(rest.iter().skip(1).step_by(2).copied());
    format!("{}/{verb}", parts.join("/"))
}

/// The budget a method draws from: load balancers, application gateways and their public
/// IPs in `loadBalancing`, everything else in `compute`.
pub fn op_of(operation: &str) -> Op {
    let lb = ["loadBalancers", "applicationGateways", "publicIPAddresses"]
        .iter()
        .any(|t| operation.contains(&format!("/{t}")));
    let service = if lb {
        Service::LoadBalancing
    } else {
        Service::Compute
    };
    let class = if operation.ends_with("/read") {
        OpClass::Describe
    } else {
        OpClass::Mutate
    };
    Op::new(service, class)
}

/// The pipeline policy every request goes through.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    pub budget: RateBudget,
    pub counts: CallCounts,
    pub retry: RetryConfig,
}

impl CallPolicy {
    pub fn new(budget: RateBudget, retry: RetryConfig) -> CallPolicy {
        CallPolicy {
            budget,
            counts: CallCounts::default(),
            retry,
        }
    }
}

#[async_trait]
impl Policy for CallPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let method = request.method().to_string().to_uppercase();
        if method == "GET"
            && let Ok(url) = GET_URL.try_with(Clone::clone)
        {
            let here = request.url();
            if (url.scheme(), url.host_str(), url.port_or_known_default())
                != (here.scheme(), here.host_str(), here.port_or_known_default())
            {
                return Err(azure_core::Error::message(
                    azure_core::error::ErrorKind::Other,
                    format!("operation URL {url} is not on the Resource Manager endpoint"),
                ));
            }
            *request.url_mut() = url;
        }
        let operation = operation_name(&method, request.url().path());
        let op = op_of(&operation);
        if method == "PUT"
            && let Ok(Some(etag)) = IF_MATCH.try_with(Clone::clone)
        {
            request.insert_header("if-match", etag);
        }
        let span = tracing::debug_span!("azure", method = %operation);
        async move {
            let mut throttled = 0u32;
            let mut transient = 0u32;
            loop {
                self.budget.acquire(op).await;
                self.counts.add(&operation);
                let outcome = next[0].send(ctx, request, &next[1..]).await;
                let status = match &outcome {
                    Ok(r) => u16::from(r.status()),
                    Err(_) => 0,
                };
                if status == 429 {
                    let retry_after = outcome
                        .as_ref()
                        .ok()
                        .and_then(|r| retry_after_of(r.headers()));
                    self.budget.on_throttled(op, retry_after);
                    if throttled < self.retry.throttle_retries {
                        throttled += 1;
                        tracing::debug!(attempt = throttled, ?retry_after, "Request throttled");
                        continue;
                    }
                    return outcome;
                }
                let transient_failure = status >= 500 || outcome.as_ref().is_err_and(error::is_io);
                if transient_failure && transient < self.retry.transient_retries {
                    let wait = self.retry.backoff(transient);
                    transient += 1;
                    tracing::debug!(
                        attempt = transient,
                        status,
                        ?wait,
                        "Request failed, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                if (200..300).contains(&status) {
                    self.budget.on_success(op);
                }
                return outcome;
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_as_rbac_names_them() {
        let rt = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/routeTables/rt";
        assert_eq!(
            operation_name("PUT", rt),
            "Microsoft.Network/routeTables/write"
        );
        assert_eq!(
            operation_name(
                "GET",
                "/subscriptions/s/resourceGroups/g/providers/microsoft.Compute/virtualMachineScaleSets/p/virtualMachines/0/networkInterfaces"
            ),
            "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/read"
        );
        assert_eq!(
            operation_name("GET", &format!("{rt}/routes/r1")),
            "Microsoft.Network/routeTables/routes/read"
        );
        assert_eq!(
            operation_name(
                "GET",
                "/subscriptions/s/providers/Microsoft.Network/locations/eastus/operations/1"
            ),
            "Microsoft.Network/locations/operations/read"
        );
        assert_eq!(
            operation_name(
                "DELETE",
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/loadBalancers/lb"
            ),
            "Microsoft.Network/loadBalancers/delete"
        );
        assert_eq!(
            op_of("Microsoft.Network/loadBalancers/delete"),
            Op::new(Service::LoadBalancing, OpClass::Mutate)
        );
        assert_eq!(
            op_of("Microsoft.Network/networkInterfaces/read"),
            Op::new(Service::Compute, OpClass::Describe)
        );
    }
}
