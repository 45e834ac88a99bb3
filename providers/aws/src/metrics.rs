//! Prometheus metrics of the provider, per operation (a fixed set of label values).

use std::time::{Duration, Instant};

use cloudnet_core::ErrorKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::ops::AwsOp;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    operation: &'static str,
    kind: &'static str,
}

fn latency_histogram() -> Histogram {
    // 5 ms .. ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Calls, errors by kind, throttles and latency per AWS operation. Clones share the series.
#[derive(Debug, Clone)]
pub struct AwsMetrics {
    calls: Family<OpLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    throttles: Family<OpLabels, Counter>,
    latency: Family<OpLabels, Histogram, fn() -> Histogram>,
}

impl Default for AwsMetrics {
    fn default() -> Self {
        AwsMetrics {
            calls: Family::default(),
            errors: Family::default(),
            throttles: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl AwsMetrics {
    /// Creates the metrics and registers them under `cloudnet_aws_`.
    pub fn register(registry: &mut Registry) -> AwsMetrics {
        let m = AwsMetrics::default();
        let sub = registry.sub_registry_with_prefix("cloudnet_aws");
        sub.register(
            "calls",
            "AWS API calls (attempts the provider made)",
            m.calls.clone(),
        );
        sub.register(
            "errors",
            "AWS API calls that failed, by error kind",
            m.errors.clone(),
        );
        sub.register(
            "throttles",
            "AWS API calls the cloud throttled",
            m.throttles.clone(),
        );
        sub.register(
            "call_duration_seconds",
            "Latency of AWS API calls, SDK retries included",
            m.latency.clone(),
        );
        m
    }

    /// Starts timing one call; the timer records when dropped.
    pub(crate) fn start(&self, op: AwsOp) -> CallTimer<'_> {
        self.calls
            .get_or_create(&OpLabels {
                operation: op.name(),
            })
            .inc();
        CallTimer {
            metrics: self,
            op,
            start: Instant::now(),
        }
    }

    pub(crate) fn error(&self, op: AwsOp, kind: ErrorKind) {
        self.errors
            .get_or_create(&ErrorLabels {
                operation: op.name(),
                kind: kind.label(),
            })
            .inc();
        if kind == ErrorKind::Throttled {
            self.throttles
                .get_or_create(&OpLabels {
                    operation: op.name(),
                })
                .inc();
        }
    }

    fn observe(&self, op: AwsOp, took: Duration) {
        self.latency
            .get_or_create(&OpLabels {
                operation: op.name(),
            })
            .observe(took.as_secs_f64());
    }

    /// Calls made so far for one operation (for tests and the bench).
    pub fn calls(&self, op: AwsOp) -> u64 {
        self.calls
            .get_or_create(&OpLabels {
                operation: op.name(),
            })
            .get()
    }

    /// Throttled calls so far for one operation.
    pub fn throttles(&self, op: AwsOp) -> u64 {
        self.throttles
            .get_or_create(&OpLabels {
                operation: op.name(),
            })
            .get()
    }

    /// Calls so far over every operation, mutating ones apart.
    pub fn totals(&self) -> CallTotals {
        let mut t = CallTotals::default();
        for op in AwsOp::ALL {
            let n = self.calls(*op);
            t.calls += n;
            if op.is_mutating() {
                t.mutating += n;
            }
            t.throttles += self.throttles(*op);
        }
        t
    }
}

/// Sums over every operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTotals {
    pub calls: u64,
    pub mutating: u64,
    pub throttles: u64,
}

/// Records a call's latency when dropped, whichever way the call ends.
pub(crate) struct CallTimer<'a> {
    metrics: &'a AwsMetrics,
    op: AwsOp,
    start: Instant,
}

impl Drop for CallTimer<'_> {
    fn drop(&mut self) {
        self.metrics.observe(self.op, self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn series_are_labelled_by_operation_and_kind() {
        let mut registry = Registry::default();
        let m = AwsMetrics::register(&mut registry);
        drop(m.start(AwsOp::DescribeInstances));
        m.error(AwsOp::CreateRoute, ErrorKind::Throttled);
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        assert!(
            out.contains(r#"cloudnet_aws_calls_total{operation="DescribeInstances"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(
                r#"cloudnet_aws_errors_total{operation="CreateRoute",kind="throttled"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"cloudnet_aws_throttles_total{operation="CreateRoute"} 1"#),
            "{out}"
        );
        assert!(
            out.contains("cloudnet_aws_call_duration_seconds_bucket"),
            "{out}"
        );
        assert_eq!(m.totals().calls, 1);
        assert_eq!(m.totals().mutating, 0);
    }
}
