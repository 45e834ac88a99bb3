//! Diff: the planned stack against the observed one, as an ordered [`ChangeSet`]. Pure: no
//! I/O, no SDK type; the per-kind matching functions of [`super::matching`] are its parts.
//!
//! ```text
//!  frontend group ─> its rule on the nodes' group (or the shared backend security group and
//!  its rule) ─> target groups ─> load balancer ─> (old per-ALB rule revoked) ─> listeners
//!     ─> rules (stale first) ─> stale listeners ─> stale target groups
//! ```
//!
//! Ownership is decided here, before any change: a load balancer, managed security group,
//! shared backend security group or target group found under one of our names without our
//! tags is a `Conflict` and the whole diff is refused, so nothing of the stack is touched.
//! A target group of someone else's on our load balancer under another name is left alone
//! (neither changed nor deleted).

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{Error, Owner, Result};

use super::backend_sg::{backend_sg, is_backend_sg, node_rule_changes};
use super::changes::{Change, ChangeSet, PortRange, Ref};
use super::matching::*;
use super::model::*;
use super::observe::{ObservedStack, ObservedTargetGroup};
use super::plan::resolve_action;

#[cfg(test)]
mod tests;

/// The error for a resource under our name that is not ours.
pub(crate) fn conflict(message: String) -> Error {
    Error::Conflict {
        code: "NotOwned".into(),
        message,
    }
}

fn not_owned(what: &str, name: &str, owner: &Owner) -> Error {
    conflict(format!(
        "{what} {name} exists and is not owned by {} {}; it is left alone",
        owner.kind.as_str(),
        owner.object_ref()
    ))
}

/// How a reference compares with IDs found on AWS: its ID, or for a resource still to be
/// created its name (which no AWS ID equals, so it always differs).
fn ref_key(r: &Ref) -> String {
    match r {
        Ref::Existing(id) | Ref::New(id) => id.clone(),
    }
}

/// The changes that make `observed` what `stack` plans. `node_security_group` is the
/// nodes' group the shared backend security group is admitted on.
pub fn diff(
    owner: &Owner,
    stack: &DesiredStack,
    observed: &ObservedStack,
    node_security_group: Option<&str>,
) -> Result<ChangeSet> {
    let mut changes = Vec::new();
    if let Some(lb) = &observed.load_balancer
        && !owner.owns(&lb.tags)
    {
        return Err(not_owned("load balancer", &lb.actual.name, owner));
    }
    let frontend = frontend_sg(owner, stack, observed, &mut changes)?;
    let backend = shared_backend_sg(owner, stack, observed, node_security_group, &mut changes)?;
    let (target_groups, stale_groups) = target_groups(owner, stack, observed, &mut changes)?;

    let mut security_groups: Vec<Ref> = stack
        .load_balancer
        .security_groups
        .iter()
        .cloned()
        .map(Ref::Existing)
        .chain(frontend.clone())
        .chain(backend)
        .collect();
    security_groups.sort();
    security_groups.dedup();
    let load_balancer = load_balancer(stack, observed, security_groups, &mut changes)?;

    // Only once the load balancer carries the shared group may its managed group's own rule
    // on the nodes' group go (a group created now never had one).
    if let (Some(_), Some(Ref::Existing(front)), Some(b), Some(node_sg)) = (
        &stack.backend_ports,
        &frontend,
        &observed.backend_sg,
        node_security_group,
    ) {
        let source = SgSource::Group(front.clone());
        let revoke: Vec<PortRange> = b
            .node_rules
            .iter()
            .filter(|r| r.source == source)
            .map(PortRange::of)
            .collect();
        if !revoke.is_empty() {
            changes.push(Change::RevokeFrontendAdmission {
                node_security_group: node_sg.to_string(),
                frontend: front.clone(),
                revoke,
            });
        }
    }

    listeners(stack, observed, &target_groups, &mut changes)?;
    changes.extend(stale_groups);
    Ok(ChangeSet {
        load_balancer_name: stack.load_balancer.name.clone(),
        load_balancer,
        target_groups,
        changes,
    })
}

/// The ALB's managed group and, without the shared backend security group, its rule on the
/// nodes' group. Answers the reference the load balancer carries.
fn frontend_sg(
    owner: &Owner,
    stack: &DesiredStack,
    observed: &ObservedStack,
    changes: &mut Vec<Change>,
) -> Result<Option<Ref>> {
    let Some(desired) = &stack.security_group else {
        return Ok(None);
    };
    let frontend = match &observed.security_group {
        Some(g) if !owner.owns(&g.tags) => {
            return Err(not_owned(
                "security group",
                &format!("{} ({})", g.name, g.id),
                owner,
            ));
        }
        Some(g) => {
            let rules = match_sg_rules(&desired.ingress, &g.ingress, |_| true);
            let tags = match_tags(&desired.tags, &g.tags);
            if !rules.is_empty() || !tags.is_empty() {
                changes.push(Change::ModifySecurityGroup {
                    name: g.name.clone(),
                    id: g.id.clone(),
                    authorize: rules.authorize,
                    revoke: rules.revoke,
                    tags,
                });
            }
            Ref::Existing(g.id.clone())
        }
        None => {
            changes.push(Change::CreateSecurityGroup {
                name: desired.name.clone(),
                description: desired.description.clone(),
                tags: desired.tags.clone(),
                ingress: desired.ingress.iter().cloned().collect(),
            });
            Ref::New(desired.name.clone())
        }
    };
    if let Some(access) = &stack.backend_access {
        let (authorize, revoke): (Vec<PortRange>, Vec<PortRange>) = match &frontend {
            Ref::Existing(id) => {
                let source = SgSource::Group(id.clone());
                let m = match_sg_rules(&access.rules(id), &observed.node_rules, |r| {
                    r.source == source
                });
                (
                    m.authorize.iter().map(PortRange::of).collect(),
                    m.revoke.iter().map(PortRange::of).collect(),
                )
            }
            // Nothing can refer to a group not made yet.
            Ref::New(_) => (
                access.ports.iter().map(PortRange::from_tuple).collect(),
                Vec::new(),
            ),
        };
        if !(authorize.is_empty() && revoke.is_empty()) {
            changes.push(Change::AdmitFrontend {
                node_security_group: access.node_security_group.clone(),
                frontend: frontend.clone(),
                authorize,
                revoke,
            });
        }
    }
    Ok(Some(frontend))
}

/// The cluster's shared backend security group and its rule on the nodes' group, when the
/// load balancer carries it.
fn shared_backend_sg(
    owner: &Owner,
    stack: &DesiredStack,
    observed: &ObservedStack,
    node_security_group: Option<&str>,
    changes: &mut Vec<Change>,
) -> Result<Option<Ref>> {
    let Some(ports) = &stack.backend_ports else {
        return Ok(None);
    };
    let node_sg = node_security_group.ok_or_else(|| {
        Error::invalid("the shared backend security group needs the nodes' security group")
    })?;
    let seen = observed.backend_sg.clone().unwrap_or_default();
    let planned = backend_sg(&owner.cluster);
    let group = match &seen.group {
        Some(g) if !is_backend_sg(&owner.cluster, &g.tags) => {
            return Err(conflict(format!(
                "security group {} ({}) exists and is not cluster {}'s shared backend security group; it is left alone",
                g.name, g.id, owner.cluster
            )));
        }
        Some(g) => Ref::Existing(g.id.clone()),
        None => {
            changes.push(Change::CreateBackendSg {
                name: planned.name.clone(),
            });
            Ref::New(planned.name)
        }
    };
    let rules = node_rule_changes(&ref_key(&group), ports, &seen.node_rules);
    if !rules.is_empty() {
        changes.push(Change::AdmitBackendSg {
            node_security_group: node_sg.to_string(),
            backend_sg: group.clone(),
            needs: ports.iter().map(PortRange::from_tuple).collect(),
            authorize: rules.authorize.iter().map(PortRange::of).collect(),
            revoke: rules.revoke.iter().map(PortRange::of).collect(),
        });
    }
    Ok(Some(group))
}

/// Target groups: creates and modifications now, deletions (returned) at the very end.
/// Answers every planned group's reference by key.
fn target_groups(
    owner: &Owner,
    stack: &DesiredStack,
    observed: &ObservedStack,
    changes: &mut Vec<Change>,
) -> Result<(BTreeMap<String, Ref>, Vec<Change>)> {
    let planned: BTreeSet<&str> = stack
        .target_groups
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut owned: Vec<&ObservedTargetGroup> = Vec::new();
    for g in &observed.target_groups {
        if owner.owns(&g.tags) {
            owned.push(g);
        } else if planned.contains(g.actual.name.as_str()) {
            return Err(not_owned("target group", &g.actual.name, owner));
        }
    }
    let actual: Vec<ActualTargetGroup> = owned.iter().map(|g| g.actual.clone()).collect();
    let m = match_target_groups(&stack.target_groups, &actual);
    let mut refs = BTreeMap::new();
    for pair in &m.matched {
        let (d, a) = (pair.desired, pair.actual);
        let seen = owned.iter().find(|g| g.actual.arn == a.arn);
        let tags = seen.map_or_else(TagChanges::default, |g| match_tags(&d.tags, &g.tags));
        let attributes = seen.map_or_else(BTreeMap::new, |g| {
            match_attributes(&d.attributes, &g.attributes)
        });
        if !pair.changes.is_empty() || !tags.is_empty() || !attributes.is_empty() {
            changes.push(Change::ModifyTargetGroup {
                key: d.key.clone(),
                name: d.name.clone(),
                arn: a.arn.clone(),
                health_check: pair.changes.health_check.clone(),
                tags,
                attributes,
            });
        }
        refs.insert(d.key.clone(), Ref::Existing(a.arn.clone()));
    }
    for d in &m.create {
        changes.push(Change::CreateTargetGroup {
            target_group: (*d).clone(),
        });
        refs.insert(d.key.clone(), Ref::New(d.name.clone()));
    }
    let stale = m
        .delete
        .iter()
        .map(|a| Change::DeleteTargetGroup {
            name: a.name.clone(),
            arn: a.arn.clone(),
        })
        .collect();
    Ok((refs, stale))
}

fn load_balancer(
    stack: &DesiredStack,
    observed: &ObservedStack,
    security_groups: Vec<Ref>,
    changes: &mut Vec<Change>,
) -> Result<Ref> {
    let desired = &stack.load_balancer;
    let Some(seen) = &observed.load_balancer else {
        changes.push(Change::CreateLoadBalancer {
            load_balancer: desired.clone(),
            security_groups,
        });
        return Ok(Ref::New(desired.name.clone()));
    };
    let mut compared = desired.clone();
    compared.security_groups = security_groups.iter().map(ref_key).collect();
    let found = match match_load_balancer(&compared, Some(&seen.actual)) {
        LoadBalancerMatch::Incompatible { reason } => {
            return Err(conflict(format!(
                "load balancer cannot be changed in place: {reason}"
            )));
        }
        LoadBalancerMatch::Create => None,
        LoadBalancerMatch::Matched { changes, .. } => Some(changes),
    };
    let found = found.unwrap_or_default();
    let tags = match_tags(&desired.tags, &seen.tags);
    let attributes = match_attributes(&desired.attributes, &seen.attributes);
    if !found.is_empty() || !tags.is_empty() || !attributes.is_empty() {
        changes.push(Change::ModifyLoadBalancer {
            name: seen.actual.name.clone(),
            arn: seen.actual.arn.clone(),
            subnets: found.subnets,
            security_groups: found.security_groups.map(|_| security_groups),
            ip_address_type: found.ip_address_type,
            tags,
            attributes,
        });
    }
    Ok(Ref::Existing(seen.actual.arn.clone()))
}

fn is_web(protocol: &str) -> bool {
    protocol == "HTTP" || protocol == "HTTPS"
}

/// A listener as a change carries it: its rules are changes of their own.
fn without_rules(l: &DesiredListener) -> DesiredListener {
    DesiredListener {
        rules: Vec::new(),
        ..l.clone()
    }
}

/// Listeners and their rules. Actions are compared with group keys resolved to the ARNs of
/// existing groups (a group still to be created resolves to its name, so a listener sending
/// to it always differs); the changes carry the keys, which apply resolves.
fn listeners(
    stack: &DesiredStack,
    observed: &ObservedStack,
    target_groups: &BTreeMap<String, Ref>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let arns: BTreeMap<String, String> = target_groups
        .iter()
        .map(|(k, r)| (k.clone(), ref_key(r)))
        .collect();
    let missing = |key: String| Error::invalid(format!("backend group {key} has no target group"));
    let mut resolved = Vec::with_capacity(stack.listeners.len());
    for l in &stack.listeners {
        let mut r = l.clone();
        r.default_action = resolve_action(&l.default_action, &arns).map_err(missing)?;
        for rule in &mut r.rules {
            rule.action = resolve_action(&rule.action, &arns).map_err(missing)?;
        }
        resolved.push(r);
    }
    let actual: Vec<ActualListener> = observed
        .listeners
        .iter()
        .map(|l| l.actual.clone())
        .collect();
    let plain = |port: u16| stack.listeners.iter().find(|l| l.port == port);
    let lm = match_listeners(&resolved, &actual);
    for pair in &lm.matched {
        let (d, a) = (pair.desired, pair.actual);
        let Some(wanted) = plain(d.port) else {
            continue;
        };
        if !pair.changes.is_empty() {
            changes.push(Change::ModifyListener {
                port: d.port,
                arn: a.arn.clone(),
                changed: pair.changes.clone(),
                listener: without_rules(wanted),
            });
        }
        if !is_web(&d.protocol) {
            continue;
        }
        let seen_rules = observed
            .listeners
            .iter()
            .find(|l| l.actual.arn == a.arn)
            .map(|l| l.rules.as_slice())
            .unwrap_or_default();
        let rm = match_rules(&d.rules, seen_rules);
        let plain_rule = |priority: i32| wanted.rules.iter().find(|r| r.priority == priority);
        for stale in &rm.delete {
            changes.push(Change::DeleteRule {
                listener: d.port,
                priority: stale.priority,
                arn: stale.arn.clone(),
            });
        }
        for rp in rm.matched.iter().filter(|p| !p.changes.is_empty()) {
            if let Some(rule) = plain_rule(rp.desired.priority) {
                changes.push(Change::ModifyRule {
                    listener: d.port,
                    arn: rp.actual.arn.clone(),
                    conditions: rp.changes.conditions,
                    action: rp.changes.action,
                    rule: rule.clone(),
                });
            }
        }
        for r in &rm.create {
            if let Some(rule) = plain_rule(r.priority) {
                changes.push(Change::CreateRule {
                    listener: d.port,
                    listener_ref: Ref::Existing(a.arn.clone()),
                    rule: rule.clone(),
                });
            }
        }
    }
    for d in &lm.create {
        let Some(wanted) = plain(d.port) else {
            continue;
        };
        changes.push(Change::CreateListener {
            listener: without_rules(wanted),
        });
        for rule in &wanted.rules {
            changes.push(Change::CreateRule {
                listener: d.port,
                listener_ref: Ref::New(d.port.to_string()),
                rule: rule.clone(),
            });
        }
    }
    for stale in &lm.delete {
        changes.push(Change::DeleteListener {
            port: stale.port,
            arn: stale.arn.clone(),
        });
    }
    Ok(())
}
