//! Garbage collection of Service load balancers: stacks this cluster owns (by their
//! ownership tags, [`LoadBalancers::list_owned`]) whose Service no longer exists, because it
//! was deleted while the controller was down or its finalizer was removed by hand.
//!
//! - Stacks are listed first, Services second: a stack exists only after its Service did, so
//!   a Service that exists when the stack was seen is in the second listing.
//! - A stack whose Service exists is never deleted here (the Service controller owns it, and
//!   deletes it through the finalizer). Stacks of other clusters, of other owner kinds
//!   (Ingresses) and anything without our ownership tags are never touched.
//! - Runs at start and every `interval`, on the leader only.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::{LoadBalancerId, LoadBalancers, OwnerKind};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use tracing::{Instrument, info, warn};

use super::reconcile::ServiceError;
use crate::leader::Leadership;
use crate::metrics::{ReconcileResult, Reconciles};

/// How often a follower checks whether it leads now.
const FOLLOWER_RETRY: Duration = Duration::from_secs(2);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Stacks deleted: their Service is gone.
    pub deleted: Vec<LoadBalancerId>,
    /// Stacks of this cluster's Services that exist.
    pub kept: usize,
}

/// One pass: deletes every stack of this cluster's Services whose Service does not exist.
pub async fn collect(
    client: &Client,
    load_balancers: &dyn LoadBalancers,
    cluster: &str,
) -> Result<GcReport, ServiceError> {
    let owned: Vec<_> = load_balancers
        .list_owned()
        .await?
        .into_iter()
        .filter(|lb| lb.owner.kind == OwnerKind::Service && lb.owner.cluster == cluster)
        .collect();
    let mut report = GcReport::default();
    if owned.is_empty() {
        return Ok(report);
    }
    let services: BTreeSet<(String, String)> = Api::<Service>::all(client.clone())
        .list_metadata(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    for lb in owned {
        let key = (
            lb.owner.namespace.clone().unwrap_or_default(),
            lb.owner.name.clone(),
        );
        if services.contains(&key) {
            report.kept += 1;
            continue;
        }
        load_balancers.delete(&lb.id).await?;
        info!(id = %lb.id.0, service = %lb.owner.object_ref(), "Deleted the load balancer of a Service that is gone");
        report.deleted.push(lb.id);
    }
    Ok(report)
}

/// Runs [`collect`] at start and every `interval` until `shutdown` resolves.
pub async fn run(
    client: Client,
    load_balancers: Arc<dyn LoadBalancers>,
    cluster: String,
    leadership: Option<Leadership>,
    interval: Duration,
    metrics: Reconciles,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let passes = async {
        loop {
            let timer = metrics.start("");
            if leadership.as_ref().is_some_and(|l| !l.is_leader()) {
                // The first pass runs as soon as this replica leads.
                timer.finish(ReconcileResult::Follower);
                tokio::time::sleep(FOLLOWER_RETRY.min(interval)).await;
                continue;
            } else {
                let span = tracing::info_span!("collect_load_balancers", cluster = %cluster);
                match collect(&client, load_balancers.as_ref(), &cluster)
                    .instrument(span)
                    .await
                {
                    Ok(report) => {
                        if !report.deleted.is_empty() {
                            info!(
                                deleted = report.deleted.len(),
                                kept = report.kept,
                                "Garbage collection pass"
                            );
                        }
                        timer.finish(ReconcileResult::Success);
                    }
                    Err(error) => {
                        warn!(%error, "Garbage collection pass failed");
                        timer.finish(ReconcileResult::Error);
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    };
    tokio::select! {
        () = passes => {}
        () = shutdown => {}
    }
}
