//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics, so that of
//! several controller replicas exactly one writes to the cloud and to status.
//!
//! ```text
//!   every retry period:  GET lease ──(decide: pure)──> create | renew | take over | wait
//!                                                          │ optimistic concurrency:
//!                                                          └─ PUT with resourceVersion (409 = lost the race)
//! ```
//!
//! - A lease is expired when its record has not changed for `leaseDurationSeconds` as observed
//!   by *this* replica's clock (client-go's rule: no comparison of two machines' clocks).
//! - A leader believes it leads only until its last successful renewal plus the renew deadline
//!   ([`Leadership::is_leader`] checks the clock, not a flag a stalled task might not clear).
//!   The renew deadline is shorter than the lease duration, so an old leader has stopped
//!   writing before any other replica may take over.
//! - On shutdown the leader releases the lease (empty holder), so a successor starts at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Timings, with client-go's (and kube-controller-manager's) defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionConfig {
    pub namespace: String,
    pub lease_name: String,
    /// This replica's identity (the pod name, usually).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    pub fn new(namespace: &str, lease_name: &str, identity: &str) -> ElectionConfig {
        ElectionConfig {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The renew deadline must leave the lease time to run out before anyone else acts.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_deadline >= self.lease_duration {
            return Err("the renew deadline must be shorter than the lease duration".into());
        }
        if self.retry_period >= self.renew_deadline {
            return Err("the retry period must be shorter than the renew deadline".into());
        }
        if self.identity.is_empty() {
            return Err("the identity must not be empty".into());
        }
        Ok(())
    }
}

/// What to do with the lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No lease yet: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free (empty holder) or expired: take it over.
    TakeOver,
    /// Someone else holds it, for at most this long more.
    Wait { holder: String, remaining: Duration },
}

/// The pure decision. `unchanged_for` is how long this replica has seen the same record.
pub fn decide(identity: &str, spec: Option<&LeaseSpec>, unchanged_for: Duration) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration =
        Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
    if unchanged_for >= duration {
        Decision::TakeOver
    } else {
        Decision::Wait {
            holder: holder.to_string(),
            remaining: duration - unchanged_for,
        }
    }
}

/// Whether this replica leads, readable from any task.
#[derive(Clone)]
pub struct Leadership {
    renewed: watch::Receiver<Option<Instant>>,
    renew_deadline: Duration,
}

impl Leadership {
    /// True while the last successful renewal is younger than the renew deadline.
    pub fn is_leader(&self) -> bool {
        self.renewed
            .borrow()
            .is_some_and(|at| at.elapsed() < self.renew_deadline)
    }

    /// Waits until this replica leads.
    pub async fn wait_for_leadership(&mut self) {
        loop {
            if self.is_leader() {
                return;
            }
            if self.renewed.changed().await.is_err() {
                // The elector stopped: never leader again; park.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The running elector; dropping [`Elector::shutdown`]'s future releases the lease.
pub struct Elector {
    task: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
    leadership: Leadership,
}

impl Elector {
    /// Starts electing in a background task.
    pub fn start(client: kube::Client, config: ElectionConfig) -> Result<Elector, String> {
        config.validate()?;
        let (renewed_tx, renewed_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let leadership = Leadership {
            renewed: renewed_rx,
            renew_deadline: config.renew_deadline,
        };
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        let span = tracing::info_span!("leader_election", lease = %config.lease_name, identity = %config.identity);
        let task = tokio::spawn(tracing::Instrument::instrument(
            run(api, config, renewed_tx, stop_rx),
            span,
        ));
        Ok(Elector {
            task,
            stop: stop_tx,
            leadership,
        })
    }

    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Stops electing and, when leading, releases the lease so another replica takes over at
    /// once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops without releasing (a crash, as far as the others can tell).
    pub fn abort(self) {
        self.task.abort();
    }
}

async fn run(
    api: Api<Lease>,
    config: ElectionConfig,
    renewed: watch::Sender<Option<Instant>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut observed: Option<(Option<LeaseSpec>, Instant)> = None;
    loop {
        // The renewal counts from before the request left: however slow the answer, this
        // replica's belief ends no later than the lease others see.
        let sent = Instant::now();
        match step(&api, &config, &mut observed).await {
            Ok(true) => {
                if renewed.borrow().is_none() {
                    info!("Became leader");
                }
                let _ = renewed.send(Some(sent));
            }
            Ok(false) => {
                if renewed.borrow().is_some() {
                    warn!("Lost leadership");
                    let _ = renewed.send(None);
                }
            }
            Err(error) => {
                debug!(%error, "Lease request failed");
                let expired = renewed
                    .borrow()
                    .is_some_and(|at| at.elapsed() >= config.renew_deadline);
                if expired {
                    warn!("Could not renew the lease before the renew deadline; stepping down");
                    let _ = renewed.send(None);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.retry_period) => {}
            _ = stop.changed() => break,
        }
    }
    if renewed.borrow().is_some() {
        let _ = renewed.send(None);
        if let Err(error) = release(&api, &config).await {
            warn!(%error, "Could not release the lease");
        } else {
            info!("Released the lease");
        }
    }
}

/// One round: read, decide, write. Answers whether we hold the lease now.
async fn step(
    api: &Api<Lease>,
    config: &ElectionConfig,
    observed: &mut Option<(Option<LeaseSpec>, Instant)>,
) -> kube::Result<bool> {
    let current = api.get_opt(&config.lease_name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.clone());
    let now = Instant::now();
    let unchanged_for = match observed {
        Some((seen, at)) if *seen == spec => now.duration_since(*at),
        _ => {
            *observed = Some((spec.clone(), now));
            Duration::ZERO
        }
    };
    let decision = decide(&config.identity, spec.as_ref(), unchanged_for);
    let stamp = MicroTime(Timestamp::now());
    let secs = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let result = match decision {
        Decision::Wait { .. } => return Ok(false),
        Decision::Create => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.lease_name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(config.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(stamp.clone()),
                    renew_time: Some(stamp),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await
        }
        Decision::Renew | Decision::TakeOver => {
            let Some(mut lease) = current else {
                return Ok(false);
            };
            let mut spec = lease.spec.take().unwrap_or_default();
            if decision == Decision::TakeOver {
                spec.holder_identity = Some(config.identity.clone());
                spec.acquire_time = Some(stamp.clone());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.lease_duration_seconds = Some(secs);
            spec.renew_time = Some(stamp);
            lease.spec = Some(spec);
            // `replace` carries the resourceVersion read above: a concurrent writer makes it 409.
            api.replace(&config.lease_name, &PostParams::default(), &lease)
                .await
        }
    };
    match result {
        Ok(lease) => {
            *observed = Some((lease.spec, Instant::now()));
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

async fn release(api: &Api<Lease>, config: &ElectionConfig) -> kube::Result<()> {
    let Some(mut lease) = api.get_opt(&config.lease_name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    api.replace(&config.lease_name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(secs),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions_as_a_table() {
        let s = Duration::from_secs;
        let cases = [
            (None, s(0), Decision::Create),
            (Some(spec(Some("me"), 15)), s(0), Decision::Renew),
            (Some(spec(Some("me"), 15)), s(100), Decision::Renew),
            (Some(spec(None, 15)), s(0), Decision::TakeOver),
            (Some(spec(Some(""), 15)), s(0), Decision::TakeOver),
            (
                Some(spec(Some("other"), 15)),
                s(5),
                Decision::Wait {
                    holder: "other".into(),
                    remaining: s(10),
                },
            ),
            (Some(spec(Some("other"), 15)), s(15), Decision::TakeOver),
            (Some(spec(Some("other"), 1)), s(2), Decision::TakeOver),
        ];
        for (lease, unchanged, want) in cases {
            assert_eq!(decide("me", lease.as_ref(), unchanged), want, "{lease:?}");
        }
    }

    #[test]
    fn configs_that_could_overlap_two_leaders_are_refused() {
        let mut c = ElectionConfig::new("kube-system", "cloudnet", "a");
        assert!(c.validate().is_ok());
        c.renew_deadline = c.lease_duration;
        assert!(c.validate().is_err());
        let mut c = ElectionConfig::new("kube-system", "cloudnet", "a");
        c.retry_period = c.renew_deadline;
        assert!(c.validate().is_err());
        assert!(
            ElectionConfig::new("kube-system", "cloudnet", "")
                .validate()
                .is_err()
        );
    }
}
