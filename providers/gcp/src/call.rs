//! Every Compute Engine call goes through [`Caller::call`]: the rate budget, a count per API
//! method, a span, the mapping of client errors into [`cloudnet_core::Error`], and the
//! retries.
//!
//! ```text
//!  call(method) ─> budget.acquire(op) ─> client library (its own retries off)
//!     ▲                                      │
//!     ├── 429 rateLimitExceeded: budget.on_throttled, again through the budget
//!     └── 5xx / dropped connection: backoff (jittered, doubling), again through the budget
//! ```
//!
//! The client library's own retry loop is turned off ([`crate::client`]), so that every
//! attempt, the first and each retry, waits its turn in the budget the whole provider shares
//! and is counted here: the counts are what tests assert and what a metric exports.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub use cloudnet_core::RetryConfig;
use cloudnet_core::{Error, Op, OpClass, RateBudget, Result, Service};
use tracing::Instrument;

use crate::error::from_gax;

/// One Compute Engine API method as the suite calls it: its name as the API (and the mock
/// cloud's call log, `compute:<name>`) spells it, and the budget it draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method {
    pub name: &'static str,
    pub op: Op,
}

impl Method {
    pub const fn describe(name: &'static str) -> Method {
        Method {
            name,
            op: Op::new(Service::Compute, OpClass::Describe),
        }
    }

    pub const fn mutate(name: &'static str) -> Method {
        Method {
            name,
            op: Op::new(Service::Compute, OpClass::Mutate),
        }
    }

    /// A load-balancing method (`backendServices.*`, `urlMaps.*`, ...), in its own budget.
    pub const fn load_balancing(name: &'static str, class: OpClass) -> Method {
        Method {
            name,
            op: Op::new(Service::LoadBalancing, class),
        }
    }

    /// True when the call changes the cloud.
    pub fn is_mutating(self) -> bool {
        self.op.class != OpClass::Describe
    }
}

/// The methods this crate calls (the load balancers add theirs next to them).
pub mod methods {
    use super::Method;

    pub const INSTANCES_GET: Method = Method::describe("instances.get");
    pub const INSTANCES_LIST: Method = Method::describe("instances.list");
    pub const INSTANCES_AGGREGATED_LIST: Method = Method::describe("instances.aggregatedList");
    pub const INSTANCES_UPDATE_NETWORK_INTERFACE: Method =
        Method::mutate("instances.updateNetworkInterface");
    pub const SUBNETWORKS_GET: Method = Method::describe("subnetworks.get");
    pub const NETWORKS_GET: Method = Method::describe("networks.get");
    pub const ROUTES_LIST: Method = Method::describe("routes.list");
    pub const ROUTES_GET: Method = Method::describe("routes.get");
    pub const ROUTES_INSERT: Method = Method::mutate("routes.insert");
    pub const ROUTES_DELETE: Method = Method::mutate("routes.delete");
    pub const ZONE_OPERATIONS_GET: Method = Method::describe("zoneOperations.get");
    pub const REGION_OPERATIONS_GET: Method = Method::describe("regionOperations.get");
    pub const GLOBAL_OPERATIONS_GET: Method = Method::describe("globalOperations.get");
}

/// Calls made per method: every attempt counts, retries included.
#[derive(Debug, Clone, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<Method, u64>>>);

impl CallCounts {
    fn add(&self, method: Method) {
        *lock(&self.0).entry(method).or_default() += 1;
    }

    /// The count of one method, by its API name (`routes.insert`).
    pub fn of(&self, name: &str) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|(m, _)| m.name == name)
            .map(|(_, v)| *v)
            .sum()
    }

    /// Every method's count, by API name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (m, v) in lock(&self.0).iter() {
            *out.entry(m.name.to_string()).or_default() += *v;
        }
        out
    }

    /// Calls that change the cloud ([`Method::is_mutating`]).
    pub fn mutating(&self) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|(m, _)| m.is_mutating())
            .map(|(_, v)| *v)
            .sum()
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The budget, counts and retry policy one provider's calls share.
#[derive(Debug, Clone)]
pub struct Caller {
    pub budget: RateBudget,
    pub counts: CallCounts,
    pub retry: RetryConfig,
}

impl Caller {
    pub fn new(budget: RateBudget, retry: RetryConfig) -> Caller {
        Caller {
            budget,
            counts: CallCounts::default(),
            retry,
        }
    }

    /// Runs one Compute Engine call. `f` builds and sends the request; it is called again
    /// for each retried attempt.
    pub async fn call<T, F, Fut>(&self, method: Method, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_cloud_gax::Result<T>>,
    {
        self.call_retrying(method, self.retry.transient_retries, f)
            .await
    }

    /// [`Caller::call`] for a write whose replay is not safe blind: a transient failure (the
    /// change may or may not have landed) comes back to the caller, which reads the resource
    /// to find out. Throttling is still retried (a throttled call did nothing).
    pub async fn call_no_replay<T, F, Fut>(&self, method: Method, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_cloud_gax::Result<T>>,
    {
        self.call_retrying(method, 0, f).await
    }

    async fn call_retrying<T, F, Fut>(
        &self,
        method: Method,
        transient_retries: u32,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_cloud_gax::Result<T>>,
    {
        let span = tracing::debug_span!("gcp", method = method.name);
        async move {
            let mut throttled = 0u32;
            let mut transient = 0u32;
            loop {
                self.budget.acquire(method.op).await;
                self.counts.add(method);
                let err = match f().await {
                    Ok(out) => {
                        self.budget.on_success(method.op);
                        return Ok(out);
                    }
                    Err(e) => from_gax(&e),
                };
                match &err {
                    Error::Throttled { retry_after, .. } => {
                        self.budget.on_throttled(method.op, *retry_after);
                        if throttled < self.retry.throttle_retries {
                            throttled += 1;
                            tracing::debug!(
                                attempt = throttled,
                                code = err.code(),
                                "Call throttled"
                            );
                            continue;
                        }
                    }
                    Error::Transient { .. } if transient < transient_retries => {
                        let wait = self.retry.backoff(transient);
                        transient += 1;
                        tracing::debug!(
                            attempt = transient,
                            code = err.code(),
                            ?wait,
                            "Call failed, retrying"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    _ => {}
                }
                tracing::debug!(error = %err, "Call failed");
                return Err(err);
            }
        }
        .instrument(span)
        .await
    }

    /// Every page of a `list` call, each page one [`Caller::call`]. `send` sends the
    /// request for a page token (`None` for the first page); `next` reads the page's.
    pub async fn pages<P, F, Fut>(
        &self,
        method: Method,
        mut send: F,
        next: impl Fn(&P) -> Option<&str>,
    ) -> Result<Vec<P>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = google_cloud_gax::Result<P>>,
    {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.call(method, || send(token.clone())).await?;
            let next = next(&page).filter(|t| !t.is_empty()).map(str::to_string);
            pages.push(page);
            match next {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                // No token, or the same one again (a page loop): done.
                _ => return Ok(pages),
            }
        }
    }
}

/// A delete whose object is already gone has done its job: `NotFound` is success.
pub fn gone_is_done<T>(result: Result<T>) -> Result<()> {
    match result {
        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use cloudnet_core::{BudgetConfig, ErrorKind};
    use google_cloud_gax::error::Error as GaxError;

    use super::*;

    fn status_error(status: u16, reason: &str) -> GaxError {
        let body = format!(
            r#"{{"error":{{"code":{status},"message":"m","errors":[{{"reason":"{reason}"}}]}}}}"#
        );
        let parsed = google_cloud_gax::error::rpc::Status::try_from(&bytes::Bytes::from(body))
            .expect("parses");
        GaxError::service_with_http_metadata(parsed, Some(status), None)
    }

    fn caller() -> Caller {
        Caller::new(
            RateBudget::new(&BudgetConfig::default()),
            RetryConfig {
                throttle_retries: 3,
                transient_retries: 2,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(4),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_and_transient_calls_are_retried_and_counted() {
        let c = caller();
        let n = AtomicU32::new(0);
        let out = c
            .call(methods::ROUTES_INSERT, || {
                let i = n.fetch_add(1, Ordering::SeqCst);
                async move {
                    match i {
                        0 => Err(status_error(429, "rateLimitExceeded")),
                        1 => Err(status_error(503, "backendError")),
                        _ => Ok(7),
                    }
                }
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(c.counts.of("routes.insert"), 3);
        assert_eq!(c.counts.mutating(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_and_other_errors_are_not_retried() {
        let c = caller();
        let e = c
            .call(methods::ROUTES_LIST, || async {
                Err::<(), _>(status_error(500, "backendError"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(c.counts.of("routes.list"), 3, "first try and two retries");
        let e = c
            .call(methods::ROUTES_GET, || async {
                Err::<(), _>(status_error(404, "notFound"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(c.counts.of("routes.get"), 1);
        assert_eq!(c.counts.mutating(), 0);
        assert_eq!(c.counts.total(), 4);
    }
}
