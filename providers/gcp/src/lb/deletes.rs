//! Deleting the stack's resources, one call each, the operation awaited; a resource
//! already gone is done.

use cloudnet_core::{Error, Result};
use google_cloud_compute_v1::model as gce;

use super::GcpLoadBalancers;
use super::clients::lb_methods as m;
use super::kinds::{on_proxy, region_of, scoped};
use crate::call::gone_is_done;
use crate::ops::Scope;

impl GcpLoadBalancers {
    pub(super) async fn delete_forwarding_rule(&self, scope: &Scope, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = scoped!(caller, region_of(scope), p,
            m::FORWARDING_RULES_DELETE => c.forwarding_rules;
            m::GLOBAL_FORWARDING_RULES_DELETE => c.global_forwarding_rules;
            delete.set_forwarding_rule(name));
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_proxy(&self, name: &str, https: bool) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = on_proxy!(caller, c, https, p, name,
            m::TARGET_HTTPS_PROXIES_DELETE, m::TARGET_HTTP_PROXIES_DELETE; delete);
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_url_map(&self, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = caller
            .call(m::URL_MAPS_DELETE, || {
                c.url_maps.delete().set_project(p).set_url_map(name).send()
            })
            .await;
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_backend_service(&self, scope: &Scope, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = scoped!(caller, region_of(scope), p,
            m::REGION_BACKEND_SERVICES_DELETE => c.region_backend_services;
            m::BACKEND_SERVICES_DELETE => c.backend_services;
            delete.set_backend_service(name));
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_neg(&self, zone: &str, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = caller
            .call(m::NEGS_DELETE, || {
                c.network_endpoint_groups
                    .delete()
                    .set_project(p)
                    .set_zone(zone)
                    .set_network_endpoint_group(name)
                    .send()
            })
            .await;
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_health_check(&self, scope: &Scope, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = scoped!(caller, region_of(scope), p,
            m::REGION_HEALTH_CHECKS_DELETE => c.region_health_checks;
            m::HEALTH_CHECKS_DELETE => c.health_checks;
            delete.set_health_check(name));
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_ssl_certificate(&self, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = caller
            .call(m::SSL_CERTIFICATES_DELETE, || {
                c.ssl_certificates
                    .delete()
                    .set_project(p)
                    .set_ssl_certificate(name)
                    .send()
            })
            .await;
        self.wait_deleted(out).await
    }

    pub(super) async fn delete_firewall(&self, name: &str) -> Result<()> {
        let (p, c, caller) = self.parts();
        let out = caller
            .call(m::FIREWALLS_DELETE, || {
                c.firewalls
                    .delete()
                    .set_project(p)
                    .set_firewall(name)
                    .send()
            })
            .await;
        self.wait_deleted(out).await
    }

    /// A delete's operation awaited; a resource already gone is done.
    async fn wait_deleted(&self, out: Result<gce::Operation>) -> Result<()> {
        match out {
            Ok(op) => gone_is_done(self.provider().wait(op).await),
            Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
