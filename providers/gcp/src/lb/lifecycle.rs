//! The [`LoadBalancers`] trait: ensure (see the module root), target sync (see
//! [`super::targets`]), delete in reverse dependency order, and the garbage-collection
//! listing.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cloudnet_core::ownership::{NameRules, derive_name};
use cloudnet_core::{
    BoundGroup, Error, LoadBalancerCapabilities, LoadBalancerId, LoadBalancerKind,
    LoadBalancerSpec, LoadBalancerStatus, LoadBalancers, OwnedLoadBalancer, Protocol, Result,
    Target, TargetHealth, TargetKind, TargetSync,
};
use google_cloud_compute_v1::model as gce;
use tracing::Instrument;

use super::clients::lb_methods as m;
use super::model::{Ownership, ownership_of};
use super::plan::{parse_id, stack_id};
use super::{GcpLoadBalancers, lock};
use crate::ops::Scope;

impl GcpLoadBalancers {
    /// True when the resource belongs to the stack `base` of this cluster.
    fn in_stack(&self, owned: &Option<Ownership>, base: &str) -> bool {
        owned.as_ref().is_some_and(|o| {
            o.owner.cluster == self.provider().config().cluster_name
                && derive_name(NameRules::Gce, &o.owner, &[]) == base
        })
    }

    async fn delete_stack(&self, id: &LoadBalancerId) -> Result<()> {
        let (scope, base) = parse_id(id)?;
        let o = self.observe(&scope, &base).await?;
        for f in o
            .forwarding_rules
            .iter()
            .filter(|x| self.in_stack(&x.owned, &base))
        {
            self.delete_forwarding_rule(&scope, &f.actual.name).await?;
        }
        for x in o.proxies.iter().filter(|x| self.in_stack(&x.owned, &base)) {
            self.delete_proxy(&x.actual.name, x.actual.https).await?;
        }
        for x in o
            .ssl_certificates
            .iter()
            .filter(|x| self.in_stack(&x.owned, &base))
        {
            self.delete_ssl_certificate(&x.actual).await?;
        }
        for x in o.url_maps.iter().filter(|x| self.in_stack(&x.owned, &base)) {
            self.delete_url_map(&x.actual.name).await?;
        }
        for x in o
            .backend_services
            .iter()
            .filter(|x| self.in_stack(&x.owned, &base))
        {
            self.delete_backend_service(&scope, &x.actual.name).await?;
        }
        for x in o.negs.iter().filter(|x| self.in_stack(&x.owned, &base)) {
            self.delete_neg(&x.actual.zone, &x.actual.name).await?;
        }
        for x in o
            .health_checks
            .iter()
            .filter(|x| self.in_stack(&x.owned, &base))
        {
            self.delete_health_check(&scope, &x.actual.name).await?;
        }
        // Last: the rules let traffic in until nothing is left to reach.
        for x in o
            .firewalls
            .iter()
            .filter(|x| self.in_stack(&x.owned, &base))
        {
            self.delete_firewall(&x.actual.name).await?;
        }
        let mut cache = lock(&self.inner.cache);
        cache.groups.retain(|(s, _), _| s != &id.0);
        cache.l4_members.retain(|(s, _), _| s != &id.0);
        Ok(())
    }

    async fn owned_stacks(&self) -> Result<Vec<OwnedLoadBalancer>> {
        let p = self.project().to_string();
        let region = self.provider().location().region.clone();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let filter = "name eq \"k8s-.*\"";
        let global = caller
            .pages(
                m::GLOBAL_FORWARDING_RULES_LIST,
                |t| {
                    c.global_forwarding_rules
                        .list()
                        .set_project(&p)
                        .set_filter(filter)
                        .set_or_clear_page_token(t)
                        .send()
                },
                |x: &gce::ForwardingRuleList| x.next_page_token.as_deref(),
            )
            .await?;
        let regional = caller
            .pages(
                m::FORWARDING_RULES_LIST,
                |t| {
                    c.forwarding_rules
                        .list()
                        .set_project(&p)
                        .set_region(&region)
                        .set_filter(filter)
                        .set_or_clear_page_token(t)
                        .send()
                },
                |x: &gce::ForwardingRuleList| x.next_page_token.as_deref(),
            )
            .await?;
        let cluster = &self.provider().config().cluster_name;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let rules = global
            .iter()
            .flat_map(|x| &x.items)
            .map(|f| (Scope::Global, LoadBalancerKind::Application, f))
            .chain(
                regional
                    .iter()
                    .flat_map(|x| &x.items)
                    .map(|f| (Scope::Region(region.clone()), LoadBalancerKind::Network, f)),
            );
        for (scope, kind, f) in rules {
            let Some(o) = ownership_of(f.description.as_deref()) else {
                continue;
            };
            if &o.owner.cluster != cluster {
                continue;
            }
            let id = stack_id(&scope, &derive_name(NameRules::Gce, &o.owner, &[]));
            if seen.insert(id.clone()) {
                out.push(OwnedLoadBalancer {
                    id,
                    owner: o.owner,
                    kind,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl LoadBalancers for GcpLoadBalancers {
    fn capabilities(&self) -> LoadBalancerCapabilities {
        LoadBalancerCapabilities {
            kinds: vec![LoadBalancerKind::Network, LoadBalancerKind::Application],
            target_kinds: vec![TargetKind::PodIp, TargetKind::NodePort],
            listener_protocols: vec![
                Protocol::Http,
                Protocol::Https,
                Protocol::Tcp,
                Protocol::Udp,
            ],
            // GCLB can (weightedBackendServices, urlRedirect); this backend does not build
            // them yet, so the core's check refuses them with a clear error.
            weighted_forward: false,
            redirect: false,
            fixed_response: false,
            // Path rules per path matcher.
            max_rules_per_listener: 1000,
            // Endpoints per zonal NEG.
            max_targets_per_group: 10_000,
            max_listeners: 50,
        }
    }

    async fn ensure(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        let span = tracing::info_span!(
            "ensure_load_balancer",
            owner = %spec.owner.object_ref(),
            kind = ?spec.kind
        );
        self.ensure_stack(spec).instrument(span).await
    }

    async fn sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let span = tracing::debug_span!("sync_targets", group, targets = targets.len());
        self.sync_group(lb, group, targets).instrument(span).await
    }

    async fn sync_bound_targets(
        &self,
        group: &BoundGroup,
        _targets: &[Target],
        _managed: &[Target],
    ) -> Result<TargetSync> {
        Err(Error::invalid(format!(
            "binding targets into a group made outside the suite ({}) is not supported on GCP; \
             use a Service or Ingress (NEGs are made by the suite)",
            group.id
        )))
    }

    async fn target_health(&self, group_id: &str) -> Result<Vec<TargetHealth>> {
        let span = tracing::debug_span!("target_health", group = %group_id);
        self.group_health(group_id).instrument(span).await
    }

    async fn delete(&self, lb: &LoadBalancerId) -> Result<()> {
        let span = tracing::info_span!("delete_load_balancer", id = %lb.0);
        self.delete_stack(lb).instrument(span).await
    }

    async fn list_owned(&self) -> Result<Vec<OwnedLoadBalancer>> {
        self.owned_stacks().await
    }
}
