//! Reading a stack: one filtered list per kind (`name eq <the stack's name pattern>`), each
//! resource converted into the plain model with who owns it (its description).

use std::collections::BTreeSet;

use cloudnet_core::Result;
use google_cloud_compute_v1::model as gce;

use super::GcpLoadBalancers;
use super::clients::lb_methods as m;
use super::kinds::{list_items, region_of, scoped_list};
use super::model::*;
use crate::names::last_segment;
use crate::ops::Scope;

fn owned(description: &Option<String>) -> Option<Ownership> {
    ownership_of(description.as_deref())
}

fn seen<T>(actual: T, description: &Option<String>) -> Seen<T> {
    Seen {
        actual,
        owned: owned(description),
    }
}

fn proxy_def(
    name: &Option<String>,
    https: bool,
    url_map: &Option<String>,
    certs: &[String],
) -> ProxyDef {
    ProxyDef {
        name: name_of(name),
        https,
        url_map: url_map.as_deref().map(last_segment).unwrap_or("").into(),
        certificates: certs.iter().map(|s| last_segment(s).to_string()).collect(),
    }
}

fn name_of(n: &Option<String>) -> String {
    n.clone().unwrap_or_default()
}

/// The zone and name of a NEG URL (`.../zones/Z/networkEndpointGroups/N`); zone "" otherwise.
pub fn neg_of_url(url: &str) -> (String, String) {
    let parts: Vec<&str> = url.split('/').collect();
    match parts.iter().rposition(|p| *p == "networkEndpointGroups") {
        Some(i) if i >= 2 && parts[i - 2] == "zones" && i + 1 < parts.len() => {
            (parts[i - 1].to_string(), parts[i + 1].to_string())
        }
        _ => (String::new(), url.to_string()),
    }
}

pub fn health_check_def(h: &gce::HealthCheck) -> HealthCheckDef {
    let protocol = h
        .r#type
        .as_ref()
        .and_then(|t| t.name())
        .unwrap_or("")
        .to_string();
    let serving = |spec: Option<&str>| spec == Some("USE_SERVING_PORT");
    let (port, request_path) = match protocol.as_str() {
        "HTTP" => h.http_health_check.as_ref().map_or((None, None), |c| {
            let spec = c.port_specification.as_ref().and_then(|s| s.name());
            (
                (!serving(spec)).then_some(c.port).flatten(),
                c.request_path.clone(),
            )
        }),
        "HTTPS" => h.https_health_check.as_ref().map_or((None, None), |c| {
            let spec = c.port_specification.as_ref().and_then(|s| s.name());
            (
                (!serving(spec)).then_some(c.port).flatten(),
                c.request_path.clone(),
            )
        }),
        "TCP" => h.tcp_health_check.as_ref().map_or((None, None), |c| {
            let spec = c.port_specification.as_ref().and_then(|s| s.name());
            ((!serving(spec)).then_some(c.port).flatten(), None)
        }),
        _ => (None, None),
    };
    HealthCheckDef {
        name: name_of(&h.name),
        protocol,
        port: port.and_then(|p| u16::try_from(p).ok()),
        request_path,
        interval_sec: h.check_interval_sec.unwrap_or(5),
        timeout_sec: h.timeout_sec.unwrap_or(5),
        healthy_threshold: h.healthy_threshold.unwrap_or(2),
        unhealthy_threshold: h.unhealthy_threshold.unwrap_or(2),
    }
}

pub fn backend_service_actual(b: &gce::BackendService) -> ActualBackendService {
    ActualBackendService {
        name: name_of(&b.name),
        protocol: b
            .protocol
            .as_ref()
            .and_then(|p| p.name())
            .map(str::to_string),
        scheme: b
            .load_balancing_scheme
            .as_ref()
            .and_then(|s| s.name())
            .map(str::to_string),
        health_checks: b
            .health_checks
            .iter()
            .map(|h| last_segment(h).to_string())
            .collect(),
        backends: b
            .backends
            .iter()
            .filter_map(|x| x.group.as_deref().map(neg_of_url))
            .collect(),
        timeout_sec: b.timeout_sec,
        draining_timeout_sec: b
            .connection_draining
            .as_ref()
            .and_then(|d| d.draining_timeout_sec),
    }
}

pub fn url_map_def(u: &gce::UrlMap) -> UrlMapDef {
    let svc = |s: &Option<String>| s.as_deref().map(last_segment).unwrap_or("").to_string();
    let mut host_rules: Vec<HostRuleDef> = u
        .host_rules
        .iter()
        .map(|h| {
            let mut hosts = h.hosts.clone();
            hosts.sort();
            HostRuleDef {
                hosts,
                path_matcher: name_of(&h.path_matcher),
            }
        })
        .collect();
    host_rules.sort_by(|a, b| a.path_matcher.cmp(&b.path_matcher));
    let mut path_matchers: Vec<PathMatcherDef> = u
        .path_matchers
        .iter()
        .map(|p| PathMatcherDef {
            name: name_of(&p.name),
            default_service: svc(&p.default_service),
            path_rules: p
                .path_rules
                .iter()
                .map(|r| PathRuleDef {
                    paths: r.paths.clone(),
                    service: svc(&r.service),
                })
                .collect(),
        })
        .collect();
    path_matchers.sort_by(|a, b| a.name.cmp(&b.name));
    UrlMapDef {
        name: name_of(&u.name),
        default_service: svc(&u.default_service),
        host_rules,
        path_matchers,
    }
}

pub fn forwarding_rule_actual(f: &gce::ForwardingRule) -> ActualForwardingRule {
    let target = f.target.as_deref().map(|t| {
        (
            last_segment(t).to_string(),
            t.contains("/targetHttpsProxies/"),
        )
    });
    let mut ports: Vec<u16> = f.ports.iter().filter_map(|p| p.parse().ok()).collect();
    ports.sort_unstable();
    ActualForwardingRule {
        name: name_of(&f.name),
        ip_protocol: f
            .ip_protocol
            .as_ref()
            .and_then(|p| p.name())
            .unwrap_or_default()
            .to_string(),
        scheme: f
            .load_balancing_scheme
            .as_ref()
            .and_then(|s| s.name())
            .unwrap_or_default()
            .to_string(),
        port_range: f.port_range.clone(),
        ports: ports.iter().map(u16::to_string).collect(),
        all_ports: f.all_ports.unwrap_or(false),
        target,
        backend_service: f
            .backend_service
            .as_deref()
            .map(|b| last_segment(b).to_string()),
        subnetwork: f.subnetwork.as_deref().map(|s| last_segment(s).to_string()),
        ip: f.ip_address.clone(),
    }
}

impl GcpLoadBalancers {
    /// Every resource whose name matches the stack's pattern, one list per kind.
    pub(super) async fn observe(&self, scope: &Scope, base: &str) -> Result<ObservedStack> {
        let filter = format!("name eq \"{}\"", super::plan::name_pattern(base));
        let (p, c, caller) = self.parts();
        let region = region_of(scope);
        let mut out = ObservedStack::default();
        for h in scoped_list!(caller, region, p, &filter,
            m::REGION_HEALTH_CHECKS_LIST => c.region_health_checks;
            m::HEALTH_CHECKS_LIST => c.health_checks; gce::HealthCheckList)
        {
            out.health_checks
                .push(seen(health_check_def(&h), &h.description));
        }
        for b in scoped_list!(caller, region, p, &filter,
            m::REGION_BACKEND_SERVICES_LIST => c.region_backend_services;
            m::BACKEND_SERVICES_LIST => c.backend_services; gce::BackendServiceList)
        {
            out.backend_services
                .push(seen(backend_service_actual(&b), &b.description));
        }
        if region.is_none() {
            // URL maps and proxies are L7 only, and L7 is global.
            for u in list_items!(
                caller,
                m::URL_MAPS_LIST,
                gce::UrlMapList,
                c.url_maps.list().set_project(p).set_filter(&filter)
            ) {
                out.url_maps.push(seen(url_map_def(&u), &u.description));
            }
            for x in list_items!(
                caller,
                m::TARGET_HTTP_PROXIES_LIST,
                gce::TargetHttpProxyList,
                c.target_http_proxies
                    .list()
                    .set_project(p)
                    .set_filter(&filter)
            ) {
                let proxy = proxy_def(&x.name, false, &x.url_map, &[]);
                out.proxies.push(seen(proxy, &x.description));
            }
            for x in list_items!(
                caller,
                m::TARGET_HTTPS_PROXIES_LIST,
                gce::TargetHttpsProxyList,
                c.target_https_proxies
                    .list()
                    .set_project(p)
                    .set_filter(&filter)
            ) {
                let proxy = proxy_def(&x.name, true, &x.url_map, &x.ssl_certificates);
                out.proxies.push(seen(proxy, &x.description));
            }
            for x in list_items!(
                caller,
                m::SSL_CERTIFICATES_LIST,
                gce::SslCertificateList,
                c.ssl_certificates.list().set_project(p).set_filter(&filter)
            ) {
                out.ssl_certificates
                    .push(seen(name_of(&x.name), &x.description));
            }
        }
        for f in scoped_list!(caller, region, p, &filter,
            m::FORWARDING_RULES_LIST => c.forwarding_rules;
            m::GLOBAL_FORWARDING_RULES_LIST => c.global_forwarding_rules; gce::ForwardingRuleList)
        {
            out.forwarding_rules
                .push(seen(forwarding_rule_actual(&f), &f.description));
        }
        for f in list_items!(
            caller,
            m::FIREWALLS_LIST,
            gce::FirewallList,
            c.firewalls.list().set_project(p).set_filter(&filter)
        ) {
            out.firewalls
                .push(seen(super::firewall::firewall_actual(&f), &f.description));
        }
        out.negs = self.negs_matching(&filter).await?;
        Ok(out)
    }

    /// Every zonal NEG matching `filter`, in one aggregated list.
    pub(super) async fn negs_matching(&self, filter: &str) -> Result<Vec<Seen<ActualNeg>>> {
        let project = self.project().to_string();
        let c = &self.inner.clients;
        let pages = self
            .provider()
            .caller()
            .pages(
                m::NEGS_AGGREGATED_LIST,
                |t| {
                    c.network_endpoint_groups
                        .aggregated_list()
                        .set_project(&project)
                        .set_filter(filter)
                        .set_or_clear_page_token(t)
                        .send()
                },
                |p: &gce::NetworkEndpointGroupAggregatedList| p.next_page_token.as_deref(),
            )
            .await?;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for n in pages
            .iter()
            .flat_map(|p| p.items.values())
            .flat_map(|s| &s.network_endpoint_groups)
        {
            let zone = n
                .zone
                .as_deref()
                .map(last_segment)
                .unwrap_or("")
                .to_string();
            if zone.is_empty() || !seen.insert((zone.clone(), name_of(&n.name))) {
                continue;
            }
            out.push(Seen {
                actual: ActualNeg {
                    name: name_of(&n.name),
                    zone,
                    neg_type: n
                        .network_endpoint_type
                        .as_ref()
                        .and_then(|t| t.name())
                        .map(str::to_string),
                },
                owned: owned(&n.description),
            });
        }
        out.sort_by(|a, b| (&a.actual.zone, &a.actual.name).cmp(&(&b.actual.zone, &b.actual.name)));
        Ok(out)
    }
}
