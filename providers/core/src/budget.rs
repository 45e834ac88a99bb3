//! The rate budget: token buckets per cloud service and operation class, shared by every
//! caller of one provider, that slow down together when the cloud throttles.
//!
//! ```text
//!  allocator ─┐                       ┌─ bucket compute/describe ─┐
//!  routes   ──┼─ acquire(op) ─────────┼─ bucket compute/mutate   ─┼─> cloud API
//!  services ──┘   (waits its turn)    └─ bucket lb/targets …     ─┘
//!                 on_throttled(op) ───> halve that bucket's rate, pause for Retry-After
//!                 on_success(op)   ───> creep back up to the configured rate
//! ```
//!
//! A caller *reserves* a token: when the bucket is empty it gets a slot in the future and
//! sleeps until then, so waiters are served in order and the rate holds exactly.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The cloud API a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Service {
    /// EC2, Compute Engine, Azure Microsoft.Network (interfaces, addresses, routes).
    Compute,
    /// ELBv2, GCLB resources, Azure Load Balancer and Application Gateway.
    LoadBalancing,
}

/// How a call weighs on the cloud's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpClass {
    /// Describe*, List*, Get*.
    Describe,
    /// Create*, Modify*, Delete*, Set*, tags, address assignment.
    Mutate,
    /// Register/DeregisterTargets, NEG attach/detach, backend pool updates: the hot path.
    Targets,
}

/// Serialised as its label (`loadBalancing:targets`), so a config map has string keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Op {
    pub service: Service,
    pub class: OpClass,
}

impl Op {
    pub const fn new(service: Service, class: OpClass) -> Op {
        Op { service, class }
    }

    /// A short fixed label for metrics and config keys, e.g. `loadBalancing:targets`.
    pub fn label(self) -> &'static str {
        match (self.service, self.class) {
            (Service::Compute, OpClass::Describe) => "compute:describe",
            (Service::Compute, OpClass::Mutate) => "compute:mutate",
            (Service::Compute, OpClass::Targets) => "compute:targets",
            (Service::LoadBalancing, OpClass::Describe) => "loadBalancing:describe",
            (Service::LoadBalancing, OpClass::Mutate) => "loadBalancing:mutate",
            (Service::LoadBalancing, OpClass::Targets) => "loadBalancing:targets",
        }
    }

    pub fn all() -> [Op; 6] {
        use OpClass::*;
        use Service::*;
        [
            Op::new(Compute, Describe),
            Op::new(Compute, Mutate),
            Op::new(Compute, Targets),
            Op::new(LoadBalancing, Describe),
            Op::new(LoadBalancing, Mutate),
            Op::new(LoadBalancing, Targets),
        ]
    }
}

impl From<Op> for String {
    fn from(op: Op) -> String {
        op.label().to_string()
    }
}

impl TryFrom<String> for Op {
    type Error = ParseBudgetError;

    fn try_from(s: String) -> Result<Op, ParseBudgetError> {
        Op::all()
            .into_iter()
            .find(|op| op.label() == s.trim())
            .ok_or(ParseBudgetError { entry: s })
    }
}

/// A steady rate and how many calls may go at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    pub const fn new(per_second: f64, burst: u32) -> Rate {
        Rate { per_second, burst }
    }
}

/// The rates of one provider's budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetConfig {
    pub rates: BTreeMap<Op, Rate>,
}

impl Default for BudgetConfig {
    /// Load balancing: the AWS Load Balancer Controller's defaults (Register/Deregister
    /// targets 4/s burst 20, Describe 50/s burst 200, Modify 3/s burst 20). Compute: EC2's
    /// own account buckets (non-mutating refill 20/s, bucket 100; mutating refill 5/s,
    /// bucket 200), so one cluster's suite does not starve other tools of the account.
    fn default() -> Self {
        use OpClass::*;
        use Service::*;
        BudgetConfig {
            rates: BTreeMap::from([
                (Op::new(Compute, Describe), Rate::new(20.0, 100)),
                (Op::new(Compute, Mutate), Rate::new(5.0, 200)),
                (Op::new(Compute, Targets), Rate::new(5.0, 100)),
                (Op::new(LoadBalancing, Describe), Rate::new(50.0, 200)),
                (Op::new(LoadBalancing, Mutate), Rate::new(3.0, 20)),
                (Op::new(LoadBalancing, Targets), Rate::new(4.0, 20)),
            ]),
        }
    }
}

/// Why a budget override string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid rate budget override {entry:?}: expected <op>=<rate>:<burst> with op one of compute:describe, compute:mutate, compute:targets, loadBalancing:describe, loadBalancing:mutate, loadBalancing:targets"
)]
pub struct ParseBudgetError {
    pub entry: String,
}

impl FromStr for BudgetConfig {
    type Err = ParseBudgetError;

    /// The defaults with overrides, e.g. `loadBalancing:targets=8:40,compute:mutate=2:10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut config = BudgetConfig::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let err = || ParseBudgetError {
                entry: entry.to_string(),
            };
            let (key, value) = entry.split_once('=').ok_or_else(err)?;
            let op = Op::try_from(key.to_string()).map_err(|_| err())?;
            let (rate, burst) = value.split_once(':').ok_or_else(err)?;
            let per_second: f64 = rate.trim().parse().map_err(|_| err())?;
            let burst: u32 = burst.trim().parse().map_err(|_| err())?;
            if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
                return Err(err());
            }
            config.rates.insert(op, Rate::new(per_second, burst));
        }
        Ok(config)
    }
}

#[derive(Debug)]
struct Bucket {
    configured: Rate,
    /// The rate in force: the configured one, or less after throttling.
    rate: f64,
    /// May go below zero: each waiter reserves the token it will get.
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl Bucket {
    fn new(configured: Rate, now: Instant) -> Bucket {
        Bucket {
            configured,
            rate: configured.per_second,
            tokens: f64::from(configured.burst),
            last: now,
            paused_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let from = self.paused_until.map_or(self.last, |p| p.max(self.last));
        if now > from {
            let gained = now.duration_since(from).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + gained).min(f64::from(self.configured.burst));
        }
        self.last = now;
        if self.paused_until.is_some_and(|p| p <= now) {
            self.paused_until = None;
        }
    }

    /// Takes a token and says how long to wait for it.
    fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let pause = self
            .paused_until
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            pause
        } else {
            pause + Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Lowest fraction of the configured rate throttling can push a bucket to.
const MIN_RATE_FRACTION: f64 = 0.1;
/// Successes it takes to climb back from the floor to the configured rate.
const RECOVERY_STEPS: f64 = 20.0;

/// One provider's budget; clones share the buckets.
#[derive(Debug, Clone)]
pub struct RateBudget {
    buckets: Arc<Mutex<BTreeMap<Op, Bucket>>>,
}

impl Default for RateBudget {
    fn default() -> Self {
        RateBudget::new(&BudgetConfig::default())
    }
}

impl RateBudget {
    pub fn new(config: &BudgetConfig) -> RateBudget {
        let now = Instant::now();
        let defaults = BudgetConfig::default();
        let buckets = Op::all()
            .into_iter()
            .map(|op| {
                let rate = config
                    .rates
                    .get(&op)
                    .or_else(|| defaults.rates.get(&op))
                    .copied()
                    .unwrap_or(Rate::new(1.0, 1));
                (op, Bucket::new(rate, now))
            })
            .collect();
        RateBudget {
            buckets: Arc::new(Mutex::new(buckets)),
        }
    }

    fn with_bucket<T>(&self, op: Op, f: impl FnOnce(&mut Bucket, Instant) -> T) -> T {
        // A poisoned lock only means another caller panicked mid-update of plain numbers;
        // the numbers are still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let bucket = buckets
            .entry(op)
            .or_insert_with(|| Bucket::new(Rate::new(1.0, 1), now));
        f(bucket, now)
    }

    /// Waits until the budget allows one call of this kind.
    pub async fn acquire(&self, op: Op) {
        let wait = self.with_bucket(op, |b, now| b.reserve(now));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token only when one is free now.
    pub fn try_acquire(&self, op: Op) -> bool {
        self.with_bucket(op, |b, now| {
            b.refill(now);
            if b.paused_until.is_none() && b.tokens >= 1.0 {
                b.tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    /// The cloud throttled a call: halve the rate (down to a floor), stop any burst, and
    /// pause the bucket for the cloud's Retry-After when it gave one.
    pub fn on_throttled(&self, op: Op, retry_after: Option<Duration>) {
        self.with_bucket(op, |b, now| {
            b.refill(now);
            let floor = b.configured.per_second * MIN_RATE_FRACTION;
            b.rate = (b.rate * 0.5).max(floor);
            b.tokens = b.tokens.min(0.0);
            if let Some(d) = retry_after {
                let until = now + d;
                b.paused_until = Some(b.paused_until.map_or(until, |p| p.max(until)));
            }
        });
    }

    /// A call went through: let the rate climb back towards the configured one.
    pub fn on_success(&self, op: Op) {
        self.with_bucket(op, |b, now| {
            b.refill(now);
            let step = b.configured.per_second / RECOVERY_STEPS;
            b.rate = (b.rate + step).min(b.configured.per_second);
        });
    }

    /// The rate in force now (for metrics and tests).
    pub fn current_rate(&self, op: Op) -> f64 {
        self.with_bucket(op, |b, _| b.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGETS: Op = Op::new(Service::LoadBalancing, OpClass::Targets);
    const DESCRIBE: Op = Op::new(Service::LoadBalancing, OpClass::Describe);

    async fn time_for(budget: &RateBudget, op: Op, calls: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..calls {
            budget.acquire(op).await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_the_rate_holds() {
        let budget = RateBudget::default();
        // Targets: 4/s, burst 20. 20 go now, the next 80 take 20 s.
        assert!(time_for(&budget, TARGETS, 20).await < Duration::from_millis(1));
        let t = time_for(&budget, TARGETS, 80).await;
        assert!((t.as_secs_f64() - 20.0).abs() < 0.05, "{t:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn classes_are_independent_and_clones_share() {
        let budget = RateBudget::default();
        let clone = budget.clone();
        time_for(&budget, TARGETS, 20).await;
        assert!(
            !clone.try_acquire(TARGETS),
            "the clone must see the drained bucket"
        );
        assert!(clone.try_acquire(DESCRIBE), "another class is untouched");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_rate() {
        let budget = RateBudget::new(&"loadBalancing:targets=10:1".parse().unwrap());
        let start = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let b = budget.clone();
                tokio::spawn(async move { b.acquire(TARGETS).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 1 at once, 49 more at 10/s.
        let t = start.elapsed().as_secs_f64();
        assert!((t - 4.9).abs() < 0.05, "{t}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_slows_down_pauses_and_recovers() {
        let budget = RateBudget::default();
        budget.on_throttled(TARGETS, Some(Duration::from_secs(3)));
        assert_eq!(budget.current_rate(TARGETS), 2.0);
        // The burst is gone and the bucket is paused for 3 s, then 2/s.
        let t = time_for(&budget, TARGETS, 1).await;
        assert!((t.as_secs_f64() - 3.5).abs() < 0.05, "{t:?}");
        for _ in 0..10 {
            budget.on_throttled(TARGETS, None);
        }
        assert!(
            (budget.current_rate(TARGETS) - 0.4).abs() < 1e-9,
            "floor is 10%"
        );
        for _ in 0..100 {
            budget.on_success(TARGETS);
        }
        assert_eq!(budget.current_rate(TARGETS), 4.0);
    }

    #[test]
    fn overrides_parse_and_bad_ones_are_refused() {
        let c: BudgetConfig = "loadBalancing:targets=8:40, compute:mutate=2.5:10"
            .parse()
            .unwrap();
        assert_eq!(c.rates[&TARGETS], Rate::new(8.0, 40));
        assert_eq!(
            c.rates[&Op::new(Service::Compute, OpClass::Mutate)],
            Rate::new(2.5, 10)
        );
        assert_eq!(
            c.rates[&DESCRIBE],
            Rate::new(50.0, 200),
            "others keep defaults"
        );
        for bad in [
            "x=1:1",
            "loadBalancing:targets=1",
            "loadBalancing:targets=0:1",
            "loadBalancing:targets=1:0",
            "loadBalancing:targets=a:b",
        ] {
            assert!(bad.parse::<BudgetConfig>().is_err(), "{bad}");
        }
    }
}
