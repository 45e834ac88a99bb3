//! How a provider tries a failed call again: the retry counts and the backoff its call layer
//! (`cloudnet-gcp`'s `Caller`, `cloudnet-azure`'s `CallPolicy`) applies to every call.
//!
//! A throttled call is tried again through the rate budget (which slows down on its own); a
//! call that failed with a 5xx or a dropped connection waits [`RetryConfig::backoff`] first.

use std::time::Duration;

/// How failed attempts are tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Extra attempts of a throttled call (each through the budget, which slows down).
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

impl RetryConfig {
    /// The wait before transient retry `n` (0-based): doubling from the initial backoff,
    /// capped, with up to a quarter taken off at random so that callers that failed together
    /// do not come back together.
    pub fn backoff(&self, n: u32) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        full.saturating_sub(full.mul_f64(f64::from(nanos % 1000) / 4000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..RetryConfig::default()
        };
        for (n, full) in [(0, 100), (1, 200), (2, 400), (3, 500), (20, 500)] {
            let b = r.backoff(n);
            let full = Duration::from_millis(full);
            assert!(b <= full && b >= full.mul_f64(0.75), "{n}: {b:?}");
        }
    }
}
