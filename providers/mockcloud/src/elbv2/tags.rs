//! AddTags, RemoveTags, DescribeTags, and `Tags.member.N` at creation.
//!
//! ELBv2 API reference: up to 50 tags per resource (`TooManyTags`), a key given twice in one
//! request is `DuplicateTagKeys`, keys are 1..=128 characters and may not start with `aws:`,
//! values at most 256; DescribeTags takes at most 20 ARNs. Tags live on load balancers, target
//! groups, listeners and rules.

use std::collections::{BTreeMap, BTreeSet};

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::Elbv2;
use super::errors::{
    listener_not_found, load_balancer_not_found, rule_not_found, target_group_not_found, validation,
};
use super::names::{ArnKind, arn_kind};

fn too_many_tags() -> AwsError {
    AwsError::client(
        "TooManyTags",
        "The quota for the number of tags that can be assigned to a load balancer has been reached",
    )
}

/// The tags of one request, checked: no key twice, valid keys and values.
pub(super) fn parse_tags(
    params: &Params,
    prefix: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let mut out = BTreeMap::new();
    for t in params.structs(prefix) {
        let Some(key) = t.get("Key") else {
            return Err(validation(
                "1 validation error detected: Value null at 'tags.member.key' failed to satisfy \
                 constraint: Member must not be null",
            ));
        };
        let value = t.get("Value").unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(validation(format!(
                "Tag key '{key}' must be between 1 and 128 characters long"
            )));
        }
        if value.chars().count() > 256 {
            return Err(validation(format!(
                "The value of tag '{key}' must be at most 256 characters long"
            )));
        }
        if key.starts_with("aws:") {
            return Err(validation(format!(
                "Tag key '{key}' cannot start with the reserved prefix 'aws:'"
            )));
        }
        if out.insert(key.to_string(), value.to_string()).is_some() {
            return Err(AwsError::client(
                "DuplicateTagKeys",
                format!("Tag key '{key}' was specified more than once"),
            ));
        }
    }
    Ok(out)
}

/// Tags given at creation, within the per-resource quota.
pub(super) fn parse_new_tags(
    params: &Params,
    prefix: &str,
    quota: usize,
) -> Result<BTreeMap<String, String>, AwsError> {
    let tags = parse_tags(params, prefix)?;
    if tags.len() > quota {
        return Err(too_many_tags());
    }
    Ok(tags)
}

fn resource_arns(params: &Params) -> Result<Vec<&str>, AwsError> {
    let arns = params.list("ResourceArns.member");
    if arns.is_empty() {
        return Err(validation(
            "1 validation error detected: Value null at 'resourceArns' failed to satisfy \
             constraint: Member must not be null",
        ));
    }
    Ok(arns)
}

impl Elbv2 {
    /// The tags of a load balancer, target group, listener or rule; None when it does not
    /// exist.
    pub fn resource_tags(&self, arn: &str) -> Option<&BTreeMap<String, String>> {
        self.tags_of(arn).ok()
    }

    fn tags_of(&self, arn: &str) -> Result<&BTreeMap<String, String>, AwsError> {
        match arn_kind(arn) {
            Some(ArnKind::LoadBalancer) => self
                .load_balancers
                .get(arn)
                .map(|r| &r.tags)
                .ok_or_else(load_balancer_not_found),
            Some(ArnKind::TargetGroup) => self
                .target_groups
                .get(arn)
                .map(|r| &r.tags)
                .ok_or_else(target_group_not_found),
            Some(ArnKind::Listener) => self
                .listeners
                .get(arn)
                .map(|r| &r.tags)
                .ok_or_else(listener_not_found),
            Some(ArnKind::Rule) => self
                .rules
                .get(arn)
                .map(|r| &r.tags)
                .ok_or_else(rule_not_found),
            None => Err(validation(format!("'{arn}' is not a valid resource ARN"))),
        }
    }

    fn tags_mut(&mut self, arn: &str) -> Option<&mut BTreeMap<String, String>> {
        match arn_kind(arn)? {
            ArnKind::LoadBalancer => self.load_balancers.get_mut(arn).map(|r| &mut r.tags),
            ArnKind::TargetGroup => self.target_groups.get_mut(arn).map(|r| &mut r.tags),
            ArnKind::Listener => self.listeners.get_mut(arn).map(|r| &mut r.tags),
            ArnKind::Rule => self.rules.get_mut(arn).map(|r| &mut r.tags),
        }
    }

    pub(super) fn add_tags(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let arns = resource_arns(params)?;
        let new = parse_tags(params, "Tags.member")?;
        if new.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'tags' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        // Check every resource first so that a refusal changes nothing.
        for arn in &arns {
            let current = self.tags_of(arn)?;
            let added = new.keys().filter(|k| !current.contains_key(*k)).count();
            if current.len() + added > self.config.quotas.tags_per_resource {
                return Err(too_many_tags());
            }
        }
        for arn in &arns {
            if let Some(tags) = self.tags_mut(arn) {
                tags.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        Ok(Xml::new())
    }

    pub(super) fn remove_tags(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let arns = resource_arns(params)?;
        let keys: BTreeSet<&str> = params.list("TagKeys.member").into_iter().collect();
        if keys.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        for arn in &arns {
            self.tags_of(arn)?;
        }
        for arn in &arns {
            if let Some(tags) = self.tags_mut(arn) {
                tags.retain(|k, _| !keys.contains(k.as_str()));
            }
        }
        Ok(Xml::new())
    }

    pub(super) fn describe_tags(&self, params: &Params) -> Result<Xml, AwsError> {
        let arns = resource_arns(params)?;
        if arns.len() > 20 {
            return Err(validation(
                "1 validation error detected: Value at 'resourceArns' failed to satisfy \
                 constraint: Member must have length less than or equal to 20",
            ));
        }
        let mut found = Vec::new();
        for arn in arns {
            found.push((arn, self.tags_of(arn)?));
        }
        let mut x = Xml::new();
        x.list("TagDescriptions", "member", found, |x, (arn, tags)| {
            x.leaf("ResourceArn", arn);
            x.list("Tags", "member", tags, |x, (k, v)| {
                x.leaf("Key", k).leaf("Value", v);
            });
        });
        Ok(x)
    }
}
