//! Desired stack + observed stack -> [`ChangeSet`], pure (no call).
//!
//! A wanted name held by a resource that is not this owner's (no description of ours, or
//! another owner's) is a `Conflict` naming it, and nothing is changed; a resource of this
//! owner that is no longer wanted is deleted, after whatever referenced it has moved on.

use std::collections::BTreeSet;

use cloudnet_core::{Error, Owner, Result};

use super::changes::{Change, ChangeSet, IpSource};
use super::model::*;

/// The error for a resource under our name that is not ours.
pub fn not_owned(what: &str, name: &str, owner: &Owner) -> Error {
    Error::Conflict {
        code: "NotOwned".into(),
        message: format!(
            "{what} {name} exists and is not owned by {} {}; it is left alone",
            owner.kind.as_str(),
            owner.object_ref()
        ),
    }
}

fn is_ours<T>(seen: &Seen<T>, owner: &Owner) -> bool {
    seen.owned.as_ref().is_some_and(|o| &o.owner == owner)
}

/// The observed resource of a wanted name: None when absent, an error when not ours.
fn wanted<'a, T>(
    seen: &'a [Seen<T>],
    matches: impl Fn(&T) -> bool,
    what: &str,
    name: &str,
    owner: &Owner,
) -> Result<Option<&'a T>> {
    match seen.iter().find(|s| matches(&s.actual)) {
        None => Ok(None),
        Some(s) if is_ours(s, owner) => Ok(Some(&s.actual)),
        Some(_) => Err(not_owned(what, name, owner)),
    }
}

/// The changes that make `observed` what `desired` says.
pub fn diff(desired: &DesiredStack, observed: &ObservedStack) -> Result<ChangeSet> {
    let owner = &desired.owner;
    let mut creates = Vec::new();

    // The stack's own certificates first: a proxy switches to a new one only once it exists.
    for cert in &desired.ssl_certificates {
        if wanted(
            &observed.ssl_certificates,
            |a| a == &cert.name,
            "SSL certificate",
            &cert.name,
            owner,
        )?
        .is_none()
        {
            creates.push(Change::CreateSslCertificate {
                certificate: cert.clone(),
            });
        }
    }
    let mut frs = Vec::new();
    let mut deletes = Vec::new();

    for hc in &desired.health_checks {
        match wanted(
            &observed.health_checks,
            |a| a.name == hc.name,
            "health check",
            &hc.name,
            owner,
        )? {
            None => creates.push(Change::CreateHealthCheck {
                health_check: hc.clone(),
            }),
            Some(a) if a != hc => creates.push(Change::ModifyHealthCheck {
                health_check: hc.clone(),
            }),
            Some(_) => {}
        }
    }
    for bs in &desired.backend_services {
        // The group's NEGs: every zone where one of ours carries the service's name.
        let mut backends = BTreeSet::new();
        for n in observed.negs.iter().filter(|n| n.actual.name == bs.name) {
            if !is_ours(n, owner) {
                return Err(not_owned(
                    &format!("network endpoint group (zone {})", n.actual.zone),
                    &bs.name,
                    owner,
                ));
            }
            backends.insert((n.actual.zone.clone(), n.actual.name.clone()));
        }
        let list: Vec<(String, String)> = backends.iter().cloned().collect();
        match wanted(
            &observed.backend_services,
            |a| a.name == bs.name,
            "backend service",
            &bs.name,
            owner,
        )? {
            None => creates.push(Change::CreateBackendService {
                backend_service: bs.clone(),
                backends: list,
            }),
            Some(a) => {
                let same = a.protocol.as_deref() == Some(bs.protocol.as_str())
                    && a.scheme.as_deref() == Some(bs.scheme.as_str())
                    && a.health_checks == [bs.health_check.clone()]
                    && a.backends == backends
                    && (bs.timeout_sec.is_none() || a.timeout_sec == bs.timeout_sec)
                    && (bs.draining_timeout_sec.is_none()
                        || a.draining_timeout_sec == bs.draining_timeout_sec);
                if !same {
                    creates.push(Change::ModifyBackendService {
                        backend_service: bs.clone(),
                        backends: list,
                    });
                }
            }
        }
    }
    for um in &desired.url_maps {
        match wanted(
            &observed.url_maps,
            |a| a.name == um.name,
            "URL map",
            &um.name,
            owner,
        )? {
            None => creates.push(Change::CreateUrlMap {
                url_map: um.clone(),
            }),
            Some(a) if a != um => creates.push(Change::ModifyUrlMap {
                url_map: um.clone(),
            }),
            Some(_) => {}
        }
    }
    for p in &desired.proxies {
        let what = if p.https {
            "target HTTPS proxy"
        } else {
            "target HTTP proxy"
        };
        match wanted(
            &observed.proxies,
            |a| a.name == p.name && a.https == p.https,
            what,
            &p.name,
            owner,
        )? {
            None => creates.push(Change::CreateProxy { proxy: p.clone() }),
            Some(a) => {
                if a.url_map != p.url_map {
                    creates.push(Change::SetProxyUrlMap { proxy: p.clone() });
                }
                if a.certificates != p.certificates {
                    creates.push(Change::SetProxyCertificates { proxy: p.clone() });
                }
            }
        }
    }

    // Forwarding rules: the stack's rules share one address.
    let mut shared: Option<String> = desired.forwarding_rules.iter().find_map(|f| f.ip.clone());
    if shared.is_none() {
        shared = observed
            .forwarding_rules
            .iter()
            .filter(|f| is_ours(f, owner))
            .find_map(|f| f.actual.ip.clone());
    }
    let mut first_new: Option<String> = None;
    for fr in &desired.forwarding_rules {
        let actual = wanted(
            &observed.forwarding_rules,
            |a| a.name == fr.name,
            "forwarding rule",
            &fr.name,
            owner,
        )?;
        let recreate_ip = match actual {
            None => None,
            Some(a) => {
                let ip_ok = fr.ip.is_none() || fr.ip == a.ip;
                let same = a.ip_protocol == fr.ip_protocol
                    && a.scheme == fr.scheme
                    && a.port_range == fr.port_range
                    && a.ports == fr.ports
                    && a.all_ports == fr.all_ports
                    && a.backend_service == fr.backend_service
                    && a.subnetwork == fr.subnetwork
                    && ip_ok;
                if same {
                    if a.target != fr.target
                        && let Some(t) = &fr.target
                    {
                        frs.push(Change::SetForwardingRuleTarget {
                            name: fr.name.clone(),
                            target: t.clone(),
                        });
                    }
                    continue;
                }
                frs.push(Change::DeleteForwardingRule {
                    name: fr.name.clone(),
                });
                // Created again at the address it had, unless the address is what changed.
                if ip_ok { a.ip.clone() } else { fr.ip.clone() }
            }
        };
        let ip = match (recreate_ip.or_else(|| shared.clone()), &first_new) {
            (Some(ip), _) => IpSource::Literal(ip),
            (None, Some(first)) => IpSource::SameAs(first.clone()),
            (None, None) => {
                first_new = Some(fr.name.clone());
                IpSource::Cloud
            }
        };
        frs.push(Change::CreateForwardingRule {
            rule: fr.clone(),
            ip,
        });
    }

    // The firewall rules, after the forwarding rules: a rule for the stack's address takes
    // it from the rule that gets it first.
    let address = shared
        .map(IpSource::Literal)
        .or_else(|| first_new.map(IpSource::SameAs));
    let (firewalls, firewall_deletes) = super::firewall::diff_firewalls(
        &desired.firewalls,
        &observed.firewalls,
        owner,
        address.as_ref(),
    )?;

    // What this owner has and no longer wants, in reverse dependency order.
    let ours = |owned: &Option<Ownership>| owned.as_ref().is_some_and(|o| &o.owner == owner);
    for f in &observed.forwarding_rules {
        if ours(&f.owned)
            && !desired
                .forwarding_rules
                .iter()
                .any(|d| d.name == f.actual.name)
        {
            deletes.push(Change::DeleteForwardingRule {
                name: f.actual.name.clone(),
            });
        }
    }
    for p in &observed.proxies {
        let kept = desired
            .proxies
            .iter()
            .any(|d| d.name == p.actual.name && d.https == p.actual.https);
        if ours(&p.owned) && !kept {
            deletes.push(Change::DeleteProxy {
                name: p.actual.name.clone(),
                https: p.actual.https,
            });
        }
    }
    for u in &observed.url_maps {
        if ours(&u.owned) && !desired.url_maps.iter().any(|d| d.name == u.actual.name) {
            deletes.push(Change::DeleteUrlMap {
                name: u.actual.name.clone(),
            });
        }
    }
    let kept_service = |n: &str| desired.backend_services.iter().any(|d| d.name == n);
    for b in &observed.backend_services {
        if ours(&b.owned) && !kept_service(&b.actual.name) {
            deletes.push(Change::DeleteBackendService {
                name: b.actual.name.clone(),
            });
        }
    }
    for n in &observed.negs {
        if ours(&n.owned) && !kept_service(&n.actual.name) {
            deletes.push(Change::DeleteNeg {
                name: n.actual.name.clone(),
                zone: n.actual.zone.clone(),
            });
        }
    }
    for h in &observed.health_checks {
        if ours(&h.owned)
            && !desired
                .health_checks
                .iter()
                .any(|d| d.name == h.actual.name)
        {
            deletes.push(Change::DeleteHealthCheck {
                name: h.actual.name.clone(),
            });
        }
    }

    // Certificates last: the proxies have moved off them by then.
    for c in &observed.ssl_certificates {
        if ours(&c.owned) && !desired.ssl_certificates.iter().any(|d| d.name == c.actual) {
            deletes.push(Change::DeleteSslCertificate {
                name: c.actual.clone(),
            });
        }
    }

    let mut changes = creates;
    changes.extend(frs);
    changes.extend(firewalls);
    changes.extend(deletes);
    changes.extend(firewall_deletes);
    Ok(ChangeSet {
        id: desired.id.clone(),
        changes,
    })
}
