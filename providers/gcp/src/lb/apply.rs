//! Applying a [`ChangeSet`] in order: every mutating call through the caller, its operation
//! awaited; URL maps and backend services written under their fingerprint (read, written,
//! read again on 412). The first failure stops the set and names the change.

use std::collections::BTreeMap;

use cloudnet_core::{Owner, Result};
use google_cloud_compute_v1::model as gce;

use super::GcpLoadBalancers;
use super::changes::{Change, ChangeSet, IpSource};
use super::clients::lb_methods as m;
use super::kinds::{on_proxy, region_of, scoped};
use super::model::*;
use crate::fingerprint::{Step, read_modify_write};
use crate::ops::Scope;

/// What applying learned: the address of every forwarding rule it created (the cloud's
/// choice read back once).
#[derive(Debug, Default)]
pub struct Applied {
    pub addresses: BTreeMap<String, String>,
}

/// The URL of a resource of the stack's scope, as request bodies take it.
pub fn scoped_url(project: &str, scope: &Scope, coll: &str, name: &str) -> String {
    format!(
        "projects/{project}/{}/{coll}/{name}",
        super::plan::scope_path(scope)
    )
}

pub fn neg_url(project: &str, zone: &str, name: &str) -> String {
    format!("projects/{project}/zones/{zone}/networkEndpointGroups/{name}")
}

fn health_check_body(hc: &HealthCheckDef, description: String) -> gce::HealthCheck {
    let h = gce::HealthCheck::new()
        .set_name(&hc.name)
        .set_description(description)
        .set_type(gce::health_check::Type::from(hc.protocol.as_str()))
        .set_check_interval_sec(hc.interval_sec)
        .set_timeout_sec(hc.timeout_sec)
        .set_healthy_threshold(hc.healthy_threshold)
        .set_unhealthy_threshold(hc.unhealthy_threshold);
    let fixed = hc.port.map(i32::from);
    let spec = if fixed.is_some() {
        "USE_FIXED_PORT"
    } else {
        "USE_SERVING_PORT"
    };
    let path = hc.request_path.clone().unwrap_or_else(|| "/".into());
    match hc.protocol.as_str() {
        "HTTP" => h.set_http_health_check(
            gce::HTTPHealthCheck::new()
                .set_or_clear_port(fixed)
                .set_port_specification(gce::http_health_check::PortSpecification::from(spec))
                .set_request_path(path),
        ),
        "HTTPS" => h.set_https_health_check(
            gce::HTTPSHealthCheck::new()
                .set_or_clear_port(fixed)
                .set_port_specification(gce::https_health_check::PortSpecification::from(spec))
                .set_request_path(path),
        ),
        _ => h.set_tcp_health_check(
            gce::TCPHealthCheck::new()
                .set_or_clear_port(fixed)
                .set_port_specification(gce::tcp_health_check::PortSpecification::from(spec)),
        ),
    }
}

/// The service's connection draining, when the group sets it.
fn draining(bs: &BackendServiceDef) -> Option<gce::ConnectionDraining> {
    bs.draining_timeout_sec
        .map(|t| gce::ConnectionDraining::new().set_draining_timeout_sec(t))
}

fn backends(project: &str, bs: &BackendServiceDef, list: &[(String, String)]) -> Vec<gce::Backend> {
    list.iter()
        .map(|(zone, name)| backend(project, bs, zone, name))
        .collect()
}

pub fn backend(project: &str, bs: &BackendServiceDef, zone: &str, name: &str) -> gce::Backend {
    let b = gce::Backend::new().set_group(neg_url(project, zone, name));
    if bs.neg_type == "GCE_VM_IP" {
        b.set_balancing_mode(gce::backend::BalancingMode::from("CONNECTION"))
    } else {
        b.set_balancing_mode(gce::backend::BalancingMode::from("RATE"))
            .set_max_rate_per_endpoint(1e8f32)
    }
}

impl GcpLoadBalancers {
    pub(super) async fn apply(
        &self,
        set: &ChangeSet,
        scope: &Scope,
        owner: &Owner,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        for c in &set.changes {
            tracing::debug!(change = %c, "Applying");
            self.apply_one(c, scope, owner, &mut applied)
                .await
                .map_err(|e| e.during(c))?;
        }
        Ok(applied)
    }

    async fn apply_one(
        &self,
        change: &Change,
        scope: &Scope,
        owner: &Owner,
        applied: &mut Applied,
    ) -> Result<()> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let region = region_of(scope);
        let url = |coll: &str, name: &str| scoped_url(&p, scope, coll, name);
        match change {
            Change::CreateSslCertificate { certificate } => {
                let body = gce::SslCertificate::new()
                    .set_name(&certificate.name)
                    .set_description(ownership_description(owner, &certificate.source))
                    .set_type(gce::ssl_certificate::Type::from("SELF_MANAGED"))
                    .set_certificate(&certificate.material.certificate)
                    .set_private_key(&certificate.material.private_key);
                let op = caller
                    .call(m::SSL_CERTIFICATES_INSERT, || {
                        c.ssl_certificates
                            .insert()
                            .set_project(&p)
                            .set_body(body.clone())
                            .send()
                    })
                    .await?;
                self.provider().wait(op).await
            }
            Change::DeleteSslCertificate { name } => self.delete_ssl_certificate(name).await,
            Change::CreateHealthCheck { health_check }
            | Change::ModifyHealthCheck { health_check } => {
                let create = matches!(change, Change::CreateHealthCheck { .. });
                let body = health_check_body(
                    health_check,
                    ownership_description(owner, &health_check.name),
                );
                let n = &health_check.name;
                let op = if create {
                    scoped!(caller, region, &p,
                        m::REGION_HEALTH_CHECKS_INSERT => c.region_health_checks;
                        m::HEALTH_CHECKS_INSERT => c.health_checks;
                        insert.set_body(body.clone()))?
                } else {
                    scoped!(caller, region, &p,
                        m::REGION_HEALTH_CHECKS_PATCH => c.region_health_checks;
                        m::HEALTH_CHECKS_PATCH => c.health_checks;
                        patch.set_health_check(n).set_body(body.clone()))?
                };
                self.provider().wait(op).await
            }
            Change::CreateBackendService {
                backend_service: bs,
                backends: list,
            } => {
                let body = gce::BackendService::new()
                    .set_name(&bs.name)
                    .set_description(ownership_description(owner, &bs.groups.join(",")))
                    .set_protocol(gce::backend_service::Protocol::from(bs.protocol.as_str()))
                    .set_load_balancing_scheme(gce::backend_service::LoadBalancingScheme::from(
                        bs.scheme.as_str(),
                    ))
                    .set_health_checks([url("healthChecks", &bs.health_check)])
                    .set_backends(backends(&p, bs, list))
                    .set_or_clear_timeout_sec(bs.timeout_sec)
                    .set_or_clear_connection_draining(draining(bs));
                let op = scoped!(caller, region, &p,
                    m::REGION_BACKEND_SERVICES_INSERT => c.region_backend_services;
                    m::BACKEND_SERVICES_INSERT => c.backend_services;
                    insert.set_body(body.clone()))?;
                self.provider().wait(op).await
            }
            Change::ModifyBackendService {
                backend_service: bs,
                backends: list,
            } => {
                let hc = url("healthChecks", &bs.health_check);
                let bodies = backends(&p, bs, list);
                self.update_backend_service(scope, &bs.name, |current| {
                    let mut next = current
                        .set_protocol(gce::backend_service::Protocol::from(bs.protocol.as_str()))
                        .set_load_balancing_scheme(gce::backend_service::LoadBalancingScheme::from(
                            bs.scheme.as_str(),
                        ))
                        .set_health_checks([hc.clone()]);
                    next.backends = bodies.clone();
                    if bs.timeout_sec.is_some() {
                        next.timeout_sec = bs.timeout_sec;
                    }
                    if let Some(d) = draining(bs) {
                        next.connection_draining = Some(d);
                    }
                    Some(next)
                })
                .await
            }
            Change::CreateUrlMap { url_map } | Change::ModifyUrlMap { url_map } => {
                let body = self.url_map_body(url_map, ownership_description(owner, &url_map.name));
                if matches!(change, Change::CreateUrlMap { .. }) {
                    let op = caller
                        .call(m::URL_MAPS_INSERT, || {
                            c.url_maps
                                .insert()
                                .set_project(&p)
                                .set_body(body.clone())
                                .send()
                        })
                        .await?;
                    return self.provider().wait(op).await;
                }
                self.update_url_map(&url_map.name, body).await
            }
            Change::CreateProxy { proxy } => {
                let d = ownership_description(owner, &proxy.name);
                let um = url("urlMaps", &proxy.url_map);
                let op = if proxy.https {
                    let body = gce::TargetHttpsProxy::new()
                        .set_name(&proxy.name)
                        .set_description(d)
                        .set_url_map(um)
                        .set_ssl_certificates(self.certificate_urls(proxy));
                    caller
                        .call(m::TARGET_HTTPS_PROXIES_INSERT, || {
                            c.target_https_proxies
                                .insert()
                                .set_project(&p)
                                .set_body(body.clone())
                                .send()
                        })
                        .await?
                } else {
                    let body = gce::TargetHttpProxy::new()
                        .set_name(&proxy.name)
                        .set_description(d)
                        .set_url_map(um);
                    caller
                        .call(m::TARGET_HTTP_PROXIES_INSERT, || {
                            c.target_http_proxies
                                .insert()
                                .set_project(&p)
                                .set_body(body.clone())
                                .send()
                        })
                        .await?
                };
                self.provider().wait(op).await
            }
            Change::SetProxyUrlMap { proxy } => {
                let body = gce::UrlMapReference::new().set_url_map(url("urlMaps", &proxy.url_map));
                let op = on_proxy!(caller, c, proxy.https, &p, &proxy.name,
                    m::TARGET_HTTPS_PROXIES_SET_URL_MAP, m::TARGET_HTTP_PROXIES_SET_URL_MAP;
                    set_url_map.set_body(body.clone()))?;
                self.provider().wait(op).await
            }
            Change::SetProxyCertificates { proxy } => {
                let body = gce::TargetHttpsProxiesSetSslCertificatesRequest::new()
                    .set_ssl_certificates(self.certificate_urls(proxy));
                let op = caller
                    .call(m::TARGET_HTTPS_PROXIES_SET_SSL_CERTIFICATES, || {
                        c.target_https_proxies
                            .set_ssl_certificates()
                            .set_project(&p)
                            .set_target_https_proxy(&proxy.name)
                            .set_body(body.clone())
                            .send()
                    })
                    .await?;
                self.provider().wait(op).await
            }
            Change::CreateForwardingRule { rule, ip } => {
                let address = match ip {
                    IpSource::Cloud => None,
                    IpSource::Literal(a) => Some(a.clone()),
                    IpSource::SameAs(first) => match applied.addresses.get(first) {
                        Some(a) => Some(a.clone()),
                        None => self.forwarding_rule_ip(scope, first).await?,
                    },
                };
                let mut body = gce::ForwardingRule::new()
                    .set_name(&rule.name)
                    .set_description(ownership_description(owner, &rule.name))
                    .set_ip_protocol(gce::forwarding_rule::IPProtocol::from(
                        rule.ip_protocol.as_str(),
                    ))
                    .set_load_balancing_scheme(gce::forwarding_rule::LoadBalancingScheme::from(
                        rule.scheme.as_str(),
                    ))
                    .set_or_clear_ip_address(address.clone())
                    .set_or_clear_port_range(rule.port_range.clone())
                    .set_ports(rule.ports.clone());
                if rule.all_ports {
                    body = body.set_all_ports(true);
                }
                if let Some((proxy, https)) = &rule.target {
                    let coll = if *https {
                        "targetHttpsProxies"
                    } else {
                        "targetHttpProxies"
                    };
                    body = body.set_target(url(coll, proxy));
                }
                if let Some(bs) = &rule.backend_service {
                    body = body.set_backend_service(url("backendServices", bs));
                }
                if let Some(s) = &rule.subnetwork {
                    body = body
                        .set_subnetwork(url("subnetworks", s))
                        .set_network(format!(
                            "projects/{p}/global/networks/{}",
                            self.provider().location().network
                        ));
                }
                let op = scoped!(caller, region, &p,
                    m::FORWARDING_RULES_INSERT => c.forwarding_rules;
                    m::GLOBAL_FORWARDING_RULES_INSERT => c.global_forwarding_rules;
                    insert.set_body(body.clone()))?;
                self.provider().wait(op).await?;
                // The address the cloud picked is read back: the stack's status shows it, and
                // a later rule of the set shares it.
                let address = match address {
                    Some(a) => Some(a),
                    None => self.forwarding_rule_ip(scope, &rule.name).await?,
                };
                if let Some(a) = address {
                    applied.addresses.insert(rule.name.clone(), a);
                }
                Ok(())
            }
            Change::SetForwardingRuleTarget {
                name,
                target: (proxy, https),
            } => {
                let coll = if *https {
                    "targetHttpsProxies"
                } else {
                    "targetHttpProxies"
                };
                let body = gce::TargetReference::new().set_target(url(coll, proxy));
                let op = caller
                    .call(m::GLOBAL_FORWARDING_RULES_SET_TARGET, || {
                        c.global_forwarding_rules
                            .set_target()
                            .set_project(&p)
                            .set_forwarding_rule(name)
                            .set_body(body.clone())
                            .send()
                    })
                    .await?;
                self.provider().wait(op).await
            }
            Change::DeleteForwardingRule { name } => self.delete_forwarding_rule(scope, name).await,
            Change::DeleteProxy { name, https } => self.delete_proxy(name, *https).await,
            Change::DeleteUrlMap { name } => self.delete_url_map(name).await,
            Change::DeleteBackendService { name } => self.delete_backend_service(scope, name).await,
            Change::DeleteNeg { name, zone } => self.delete_neg(zone, name).await,
            Change::DeleteHealthCheck { name } => self.delete_health_check(scope, name).await,
            Change::CreateFirewall { firewall, address }
            | Change::ModifyFirewall { firewall, address } => {
                let create = matches!(change, Change::CreateFirewall { .. });
                let address = match address {
                    None => None,
                    Some(IpSource::Literal(a)) => Some(a.clone()),
                    Some(IpSource::SameAs(rule)) => match applied.addresses.get(rule) {
                        Some(a) => Some(a.clone()),
                        None => self.forwarding_rule_ip(scope, rule).await?,
                    },
                    Some(IpSource::Cloud) => None,
                };
                if firewall.to_stack_address && address.is_none() {
                    return Err(cloudnet_core::Error::invalid(format!(
                        "firewall rule {}: the load balancer has no address yet",
                        firewall.name
                    )));
                }
                let body = super::firewall::firewall_body(
                    &p,
                    firewall,
                    ownership_description(owner, &firewall.purpose),
                    address.as_deref(),
                );
                let op = if create {
                    caller
                        .call(m::FIREWALLS_INSERT, || {
                            c.firewalls
                                .insert()
                                .set_project(&p)
                                .set_body(body.clone())
                                .send()
                        })
                        .await?
                } else {
                    caller
                        .call(m::FIREWALLS_UPDATE, || {
                            c.firewalls
                                .update()
                                .set_project(&p)
                                .set_firewall(&firewall.name)
                                .set_body(body.clone())
                                .send()
                        })
                        .await?
                };
                self.provider().wait(op).await
            }
            Change::DeleteFirewall { name } => self.delete_firewall(name).await,
        }
    }

    fn certificate_urls(&self, proxy: &ProxyDef) -> Vec<String> {
        let p = self.project();
        proxy
            .certificates
            .iter()
            .map(|c| format!("projects/{p}/global/sslCertificates/{c}"))
            .collect()
    }

    fn url_map_body(&self, um: &UrlMapDef, description: String) -> gce::UrlMap {
        let p = self.project();
        let svc = |n: &str| scoped_url(p, &Scope::Global, "backendServices", n);
        gce::UrlMap::new()
            .set_name(&um.name)
            .set_description(description)
            .set_default_service(svc(&um.default_service))
            .set_host_rules(um.host_rules.iter().map(|h| {
                gce::HostRule::new()
                    .set_hosts(h.hosts.clone())
                    .set_path_matcher(&h.path_matcher)
            }))
            .set_path_matchers(um.path_matchers.iter().map(|m| {
                gce::PathMatcher::new()
                    .set_name(&m.name)
                    .set_default_service(svc(&m.default_service))
                    .set_path_rules(m.path_rules.iter().map(|r| {
                        gce::PathRule::new()
                            .set_paths(r.paths.clone())
                            .set_service(svc(&r.service))
                    }))
            }))
    }

    /// The address of a forwarding rule of the stack's scope (None when it has none).
    pub(super) async fn forwarding_rule_ip(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<String>> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let rule = scoped!(caller, region_of(scope), &p,
            m::FORWARDING_RULES_GET => c.forwarding_rules;
            m::GLOBAL_FORWARDING_RULES_GET => c.global_forwarding_rules;
            get.set_forwarding_rule(name))?;
        Ok(rule.ip_address)
    }

    /// Writes a URL map whole (`update`), under the fingerprint just read; read and written
    /// again when someone else wrote in between.
    async fn update_url_map(&self, name: &str, body: gce::UrlMap) -> Result<()> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let attempts = self.provider().config().fingerprint_attempts;
        read_modify_write(
            attempts,
            || async {
                caller
                    .call(m::URL_MAPS_GET, || {
                        c.url_maps.get().set_project(&p).set_url_map(name).send()
                    })
                    .await
            },
            |current: gce::UrlMap| {
                let mut next = body.clone();
                next.fingerprint = current.fingerprint;
                Ok(Step::Write(next, ()))
            },
            |next: gce::UrlMap| {
                let p = &p;
                async move {
                    let op = caller
                        .call(m::URL_MAPS_UPDATE, || {
                            c.url_maps
                                .update()
                                .set_project(p)
                                .set_url_map(name)
                                .set_body(next.clone())
                                .send()
                        })
                        .await?;
                    self.provider().wait(op).await
                }
            },
        )
        .await
        .map(|_| ())
    }

    /// Patches a backend service under its fingerprint: `modify` sees the current service
    /// and answers the body to write (None: nothing to write).
    pub(super) async fn update_backend_service(
        &self,
        scope: &Scope,
        name: &str,
        modify: impl Fn(gce::BackendService) -> Option<gce::BackendService>,
    ) -> Result<()> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let attempts = self.provider().config().fingerprint_attempts;
        let region = region_of(scope);
        read_modify_write(
            attempts,
            || async {
                scoped!(caller, region, &p,
                    m::REGION_BACKEND_SERVICES_GET => c.region_backend_services;
                    m::BACKEND_SERVICES_GET => c.backend_services;
                    get.set_backend_service(name))
            },
            |current: gce::BackendService| {
                let fingerprint = current.fingerprint.clone();
                Ok(match modify(current) {
                    None => Step::Done(()),
                    Some(mut next) => {
                        next.fingerprint = fingerprint;
                        Step::Write(next, ())
                    }
                })
            },
            |next: gce::BackendService| {
                let p = &p;
                async move {
                    let op = scoped!(caller, region, p,
                        m::REGION_BACKEND_SERVICES_PATCH => c.region_backend_services;
                        m::BACKEND_SERVICES_PATCH => c.backend_services;
                        patch.set_backend_service(name).set_body(next.clone()))?;
                    self.provider().wait(op).await
                }
            },
        )
        .await
        .map(|_| ())
    }
}
