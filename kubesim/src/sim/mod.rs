//! Simulated cluster components, driven in-process through the [`Store`]: node registration,
//! Service address allocation, a scheduler, a kubelet, a Deployment controller and an
//! EndpointSlice controller.
//!
//! Each component is a level-triggered `sync` pass over the store; [`run`] repeats it whenever
//! a watched resource changes (and once a second, to retry what conflicted).

pub mod deployment;
pub mod endpointslices;
pub mod events;
pub mod kubelet;
pub mod namespaces;
pub mod node;
pub mod rollout;
pub mod scheduler;
pub mod services;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::compact::Stored;
use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;
use crate::store::{ListOptions, Store};

pub(crate) fn info(
    store: &Store,
    api_version: &str,
    kind: &str,
) -> Result<ResourceInfo, StatusError> {
    store
        .resource(api_version, kind)
        .ok_or_else(|| StatusError::internal(format!("{api_version} {kind} is not served")))
}

pub(crate) fn list_all(store: &Store, info: &ResourceInfo) -> Result<Vec<Arc<Value>>, StatusError> {
    Ok(store.list(info, None, &ListOptions::default())?.items)
}

/// Every object of a resource in its stored form, for passes that read a few fields of each.
pub(crate) fn stored_all(
    store: &Store,
    info: &ResourceInfo,
) -> Result<Vec<Arc<Stored>>, StatusError> {
    store.snapshot(info)
}

/// A write that lost a race with another writer (conflict, gone, already there) is left to
/// the next pass.
pub(crate) fn ignore_race<T>(r: Result<T, StatusError>) -> Result<(), StatusError> {
    match r {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.reason,
                Reason::Conflict | Reason::NotFound | Reason::AlreadyExists
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The tasks turning change signals into wake-ups; they end with the loop they wake.
struct Forwarders(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Forwarders {
    fn drop(&mut self) {
        for f in &self.0 {
            f.abort();
        }
    }
}

/// Runs `sync` after every change to the `watched` kinds and once a second, until the task is
/// dropped.
pub async fn run<F, Fut>(
    store: Arc<Store>,
    watched: &[(&str, &str)],
    name: &'static str,
    mut sync: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StatusError>>,
{
    // One wake-up however many changes arrive during a pass: the passes are level-triggered.
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut forwarders = Forwarders(Vec::new());
    for (api_version, kind) in watched {
        let Ok(info) = info(&store, api_version, kind) else {
            continue;
        };
        let mut changes = store.changes(&info);
        let changed = changed.clone();
        forwarders.0.push(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                changed.notify_one();
            }
        }));
    }
    loop {
        if let Err(error) = sync().await {
            tracing::debug!(component = name, %error, "Sync pass failed; retrying");
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The running components; dropping it stops them.
pub struct Simulation {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Simulation {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Settings of the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long an Event is kept after it was last seen ([`events::DEFAULT_TTL`]).
    pub event_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            event_ttl: events::DEFAULT_TTL,
        }
    }
}

/// [`start_with`] the default [`Options`].
pub fn start(store: &Arc<Store>, addresses: Arc<dyn kubelet::PodAddressSource>) -> Simulation {
    start_with(store, addresses, Options::default())
}

/// Installs Service address allocation and starts the scheduler, the kubelet, the
/// Deployment controller, the EndpointSlice controller and the Event expiry.
pub fn start_with(
    store: &Arc<Store>,
    addresses: Arc<dyn kubelet::PodAddressSource>,
    options: Options,
) -> Simulation {
    use tracing::Instrument;
    store.add_admission(Arc::new(services::ServiceAllocator::default()));
    let scheduler_store = store.clone();
    let scheduler = tokio::spawn(
        async move {
            let s = scheduler_store.clone();
            run(
                scheduler_store,
                &[("v1", "Pod"), ("v1", "Node")],
                "scheduler",
                move || {
                    let s = s.clone();
                    async move { scheduler::sync(&s) }
                },
            )
            .await;
        }
        .instrument(tracing::info_span!("scheduler")),
    );
    let kubelet = Arc::new(kubelet::Kubelet::new(store.clone(), addresses));
    let kubelet_store = store.clone();
    let kubelet_task = tokio::spawn(
        async move {
            run(
                kubelet_store,
                &[("v1", "Pod"), ("v1", "Node")],
                "kubelet",
                move || {
                    let k = kubelet.clone();
                    async move { k.sync().await }
                },
            )
            .await;
        }
        .instrument(tracing::info_span!("kubelet")),
    );
    let deploy_store = store.clone();
    let deployments = tokio::spawn(
        async move {
            let s = deploy_store.clone();
            run(
                deploy_store,
                &[("apps/v1", "Deployment"), ("v1", "Pod")],
                "deployments",
                move || {
                    let s = s.clone();
                    async move { deployment::sync(&s) }
                },
            )
            .await;
        }
        .instrument(tracing::info_span!("deployments")),
    );
    let slice_store = store.clone();
    let slices = tokio::spawn(
        async move {
            let s = slice_store.clone();
            run(
                slice_store,
                &[
                    ("v1", "Service"),
                    ("v1", "Pod"),
                    ("v1", "Node"),
                    ("discovery.k8s.io/v1", "EndpointSlice"),
                ],
                "endpointslices",
                move || {
                    let s = s.clone();
                    async move { endpointslices::sync(&s) }
                },
            )
            .await;
        }
        .instrument(tracing::info_span!("endpointslices")),
    );
    let expiry_store = store.clone();
    let expiry = tokio::spawn(
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                match events::expire(&expiry_store, options.event_ttl, chrono::Utc::now()) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(expired = n, "Expired events"),
                    Err(error) => tracing::debug!(%error, "Event expiry failed; retrying"),
                }
            }
        }
        .instrument(tracing::info_span!("event-ttl")),
    );
    Simulation {
        tasks: vec![scheduler, kubelet_task, deployments, slices, expiry],
    }
}
