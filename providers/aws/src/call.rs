//! Every AWS call goes through [`Caller::call`]: the rate budget, the metrics, a span, and
//! the mapping of SDK errors into [`cloudnet_core::Error`].
//!
//! ```text
//!  call(op) ─> budget.acquire(op) ─> SDK (standard retry, jittered, transient errors only)
//!     ▲                                   │
//!     └── throttled: budget.on_throttled ─┘   ok: budget.on_success
//! ```
//!
//! The SDK's standard retry strategy retries transient failures (5xx, timeouts, broken
//! connections) with exponential backoff and jitter. Throttling is taken out of the SDK's
//! hands by [`ThrottleClassifier`]: a throttled attempt comes back here, slows the whole
//! provider's bucket down (and pauses it for the cloud's Retry-After), and is tried again
//! only when the budget lets it. So every attempt after a throttle waits its turn in the
//! shared budget, and callers slow down together.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use cloudnet_core::{Error, RateBudget, Result};
use tracing::Instrument;

use crate::metrics::AwsMetrics;
use crate::ops::AwsOp;

/// The budget, metrics and throttling policy one provider's calls share.
#[derive(Debug, Clone)]
pub struct Caller {
    pub budget: RateBudget,
    pub metrics: AwsMetrics,
    /// How many times a throttled call is tried again (each time through the budget).
    pub throttle_retries: u32,
}

impl Caller {
    /// Runs one AWS call. `f` builds and sends the request; it is called again for each
    /// throttled attempt.
    pub async fn call<T, E, F, Fut>(&self, op: AwsOp, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let budget_op = op.budget_op();
        let span = tracing::debug_span!("aws", operation = op.name());
        async move {
            let mut attempt = 0u32;
            loop {
                self.budget.acquire(budget_op).await;
                let result = {
                    let _timer = self.metrics.start(op);
                    f().await
                };
                match result {
                    Ok(out) => {
                        self.budget.on_success(budget_op);
                        return Ok(out);
                    }
                    Err(e) => {
                        let err = from_sdk(&e);
                        self.metrics.error(op, err.kind());
                        if let Error::Throttled { retry_after, .. } = &err {
                            self.budget.on_throttled(budget_op, *retry_after);
                            if attempt < self.throttle_retries {
                                attempt += 1;
                                tracing::debug!(attempt, code = err.code(), "Call throttled");
                                continue;
                            }
                        }
                        tracing::debug!(error = %err, "Call failed");
                        return Err(err);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

impl Caller {
    /// Every page of a marker-paged Describe call, each page one [`Caller::call`] (so each
    /// waits for the budget and is retried on throttling on its own). `send` sends the
    /// request for a marker (`None` for the first page); `next_marker` reads the page's.
    pub async fn pages<P, E, F, Fut>(
        &self,
        op: AwsOp,
        mut send: F,
        next_marker: impl Fn(&P) -> Option<&str>,
    ) -> Result<Vec<P>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = std::result::Result<P, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut pages = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.call(op, || send(marker.clone())).await?;
            let next = next_marker(&page)
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            pages.push(page);
            match next {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                // No marker, or the same one again (a page loop): done.
                _ => return Ok(pages),
            }
        }
    }
}

/// Maps an SDK error by the service's error code and HTTP status, never by message text.
pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let raw = se.raw();
            let status = raw.status().as_u16();
            let retry_after = raw
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let inner = se.err();
            let code = inner.code().unwrap_or("Unknown");
            let message = inner.message().unwrap_or_default().to_string();
            Error::from_aws(code, status, message, retry_after)
        }
        SdkError::TimeoutError(_) => Error::Transient {
            code: "RequestTimeout".into(),
            message: DisplayErrorContext(err).to_string(),
        },
        SdkError::DispatchFailure(_) => Error::Transient {
            code: "DispatchFailure".into(),
            message: DisplayErrorContext(err).to_string(),
        },
        SdkError::ResponseError(_) => Error::Transient {
            code: "ResponseError".into(),
            message: DisplayErrorContext(err).to_string(),
        },
        SdkError::ConstructionFailure(_) => Error::InvalidInput {
            code: "ConstructionFailure".into(),
            message: DisplayErrorContext(err).to_string(),
        },
        _ => Error::Transient {
            code: "Unknown".into(),
            message: DisplayErrorContext(err).to_string(),
        },
    }
}

/// A delete or deregister whose object is already gone has done its job: `NotFound` is
/// success, every other error stays an error.
pub fn gone_is_done<T>(result: Result<T>) -> Result<()> {
    match result {
        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A read whose object is not there answers nothing: `NotFound` becomes the empty value
/// (`None`, an empty list), every other error stays an error.
pub fn absent_if_not_found<T: Default>(result: Result<T>) -> Result<T> {
    match result {
        Err(Error::NotFound { .. }) => Ok(T::default()),
        other => other,
    }
}

/// Stops the SDK from retrying throttled attempts on its own, so that they go back through
/// the shared budget ([`Caller::call`]). Runs after the SDK's own classifiers.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThrottleClassifier;

impl ClassifyRetry for ThrottleClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        self.classify_retry_v2(ctx, &RetryAction::NoActionIndicated)
    }

    /// The SDK's own classifiers ran before this one: its AWS error code classifier reads
    /// the code from the error's metadata (`ProvideErrorMetadata::code()`) and calls
    /// throttling what its list does (every code of which [`Error::from_aws`] maps to
    /// `Throttled` as well). Such an attempt is not retried by the SDK but handed back to
    /// [`Caller::call`], which retries it through the budget. The HTTP 429 status, which
    /// the SDK treats as throttling too, goes the same way.
    fn classify_retry_v2(&self, _ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: aws_smithy_types::retry::ErrorKind::ThrottlingError,
                ..
            }) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "cloudnet throttling to the rate budget"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_types::retry::ErrorKind as SdkKind;
    use cloudnet_core::ErrorKind;
    use cloudnet_core::error::{classify, codes};

    use super::*;

    #[test]
    fn only_throttling_is_taken_from_the_sdk() {
        let ctx = InterceptorContext::new(Input::erase(()));
        let c = ThrottleClassifier;
        let cases = [
            (
                RetryAction::NoActionIndicated,
                RetryAction::NoActionIndicated,
            ),
            (
                RetryAction::retryable_error(SdkKind::ThrottlingError),
                RetryAction::RetryForbidden,
            ),
            (
                RetryAction::retryable_error_with_explicit_delay(
                    SdkKind::ThrottlingError,
                    Duration::from_secs(1),
                ),
                RetryAction::RetryForbidden,
            ),
            (
                RetryAction::retryable_error(SdkKind::TransientError),
                RetryAction::NoActionIndicated,
            ),
            (
                RetryAction::retryable_error(SdkKind::ServerError),
                RetryAction::NoActionIndicated,
            ),
        ];
        for (previous, want) in cases {
            assert_eq!(c.classify_retry_v2(&ctx, &previous), want, "{previous:?}");
        }
        assert_eq!(c.classify_retry(&ctx), RetryAction::NoActionIndicated);
    }

    #[test]
    fn every_sdk_throttling_code_is_throttled_here() {
        // aws-runtime's THROTTLING_ERRORS: what the SDK's classifier calls throttling.
        let sdk = [
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottledException",
            "TooManyRequestsException",
            "ProvisionedThroughputExceededException",
            "TransactionInProgressException",
            "RequestLimitExceeded",
            "BandwidthLimitExceeded",
            "LimitExceededException",
            "RequestThrottled",
            "SlowDown",
            "PriorRequestNotComplete",
            "EC2ThrottledException",
        ];
        for code in sdk {
            assert_eq!(
                classify(codes::AWS, code, 400),
                ErrorKind::Throttled,
                "{code}"
            );
        }
    }
}
