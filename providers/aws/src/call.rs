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
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use cloudnet_core::error::{classify, codes};
use cloudnet_core::{Error, ErrorKind, RateBudget, Result};
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

/// The `<Code>` of an AWS query-protocol error body (EC2's `<Response><Errors><Error>` and
/// ELBv2's `<ErrorResponse><Error>` both carry one).
pub fn error_code_in_body(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].trim())
}

/// Stops the SDK from retrying throttled attempts on its own, so that they go back through
/// the shared budget ([`Caller::call`]). Runs after the SDK's own classifiers.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThrottleClassifier;

impl ClassifyRetry for ThrottleClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(response) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let status = response.status().as_u16();
        if status < 400 {
            return RetryAction::NoActionIndicated;
        }
        let code = response
            .body()
            .bytes()
            .and_then(error_code_in_body)
            .unwrap_or("");
        if classify(codes::AWS, code, status) == ErrorKind::Throttled {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
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
    use super::*;

    #[test]
    fn codes_are_found_in_both_error_shapes() {
        let ec2 = br#"<?xml version="1.0"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>"#;
        assert_eq!(error_code_in_body(ec2), Some("RequestLimitExceeded"));
        let elb = br#"<ErrorResponse xmlns="x"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"#;
        assert_eq!(error_code_in_body(elb), Some("Throttling"));
        assert_eq!(error_code_in_body(b"<html>oops</html>"), None);
        assert_eq!(error_code_in_body(&[0xff, 0xfe]), None);
    }
}
