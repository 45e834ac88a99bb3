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
use std::time::Duration;

use async_trait::async_trait;
use azure_core::{Context, Policy, PolicyResult, Request};
use cloudnet_core::{Op, OpClass, RateBudget, Service};
use tracing::Instrument;

use crate::error::{self, retry_after_of};

/// How failed attempts are tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Extra attempts of a throttled request (each through the budget, which slows down).
    pub throttle_retries: u32,
    /// Extra attempts after a 5xx or a dropped connection.
    pub transient_retries: u32,
    /// The first backoff after a transient failure; it doubles each time, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            throttle_retries: 8,
            transient_retries: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

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
                    let wait = backoff(&self.retry, transient);
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

/// The wait before transient retry `n` (0-based): doubling from the initial backoff, capped,
/// with up to a quarter taken off at random so that callers that failed together do not
/// come back together.
pub fn backoff(retry: &RetryConfig, n: u32) -> Duration {
    let full = retry
        .initial_backoff
        .saturating_mul(1u32 << n.min(16))
        .min(retry.max_backoff);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    full.saturating_sub(full.mul_f64(f64::from(nanos % 1000) / 4000.0))
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

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..RetryConfig::default()
        };
        for (n, full) in [(0, 100), (1, 200), (2, 400), (3, 500), (20, 500)] {
            let b = backoff(&r, n);
            let full = Duration::from_millis(full);
            assert!(b <= full && b >= full.mul_f64(0.75), "{n}: {b:?}");
        }
    }
}
