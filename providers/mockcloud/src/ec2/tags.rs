//! Tags on every resource: `TagSpecification.N` at creation, `CreateTags` / `DeleteTags`,
//! `DescribeTags`, and the `<tagSet>` every description carries.

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::{Ec2State, Tags, ok_return};

/// AWS's limit of user tags per resource.
const MAX_TAGS: usize = 50;

pub fn tag_set(x: &mut Xml, tags: &Tags) {
    x.list("tagSet", "item", tags, |x, (k, v)| {
        x.leaf("key", k).leaf("value", v);
    });
}

/// The tags of `TagSpecification.N` for one resource type; a specification for a type the
/// action does not create is AWS's `InvalidParameterValue`.
pub fn from_specs(p: &Params, allowed: &[&str], resource_type: &str) -> Result<Tags, AwsError> {
    let mut out = Tags::new();
    for spec in p.structs("TagSpecification") {
        let rt = spec.get("ResourceType").unwrap_or_default();
        if !allowed.contains(&rt) {
            return Err(AwsError::invalid_parameter_value(format!(
                "'{rt}' is not a valid taggable resource type for this operation."
            )));
        }
        if rt == resource_type {
            for (k, v) in spec.tags("Tag") {
                check_key(&k)?;
                out.insert(k, v);
            }
        }
    }
    if out.len() > MAX_TAGS {
        return Err(tag_limit());
    }
    Ok(out)
}

fn check_key(k: &str) -> Result<(), AwsError> {
    if k.is_empty() || k.len() > 128 {
        return Err(AwsError::invalid_parameter_value(format!(
            "Tag key '{k}' must be between 1 and 128 characters"
        )));
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err(AwsError::invalid_parameter_value(
            "Tag keys starting with 'aws:' are reserved for internal use",
        ));
    }
    Ok(())
}

fn tag_limit() -> AwsError {
    AwsError::client(
        "TagLimitExceeded",
        format!("The maximum number of tags per resource ({MAX_TAGS}) has been exceeded"),
    )
}

/// The EC2 resource type of an id, by its prefix.
pub fn resource_type(id: &str) -> Option<&'static str> {
    let prefix = id.split('-').next()?;
    Some(match prefix {
        "i" => "instance",
        "eni" => "network-interface",
        "subnet" => "subnet",
        "vpc" => "vpc",
        "sg" => "security-group",
        "rtb" => "route-table",
        _ => return None,
    })
}

struct TagRow<'a> {
    resource_id: &'a str,
    resource_type: &'static str,
    key: &'a str,
    value: &'a str,
}

impl Filterable for TagRow<'_> {
    fn filter_values(&self, name: &str) -> Vec<String> {
        let v = match name {
            "resource-id" => self.resource_id,
            "resource-type" => self.resource_type,
            "key" => self.key,
            "value" => self.value,
            _ => return vec![],
        };
        vec![v.to_string()]
    }
    fn tags(&self) -> &Tags {
        static EMPTY: Tags = Tags::new();
        &EMPTY
    }
}

impl Ec2State {
    /// The tags of any resource, by id; the error is the resource type's own `NotFound`.
    fn tags_mut(&mut self, id: &str) -> Result<&mut Tags, AwsError> {
        let nf = |code: &str, what: &str| {
            AwsError::client(code, format!("The {what} ID '{id}' does not exist"))
        };
        match resource_type(id) {
            Some("instance") => self
                .instances
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidInstanceID.NotFound", "instance")),
            Some("network-interface") => self
                .network_interfaces
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidNetworkInterfaceID.NotFound", "networkInterface")),
            Some("subnet") => self
                .subnets
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidSubnetID.NotFound", "subnet")),
            Some("vpc") => self
                .vpcs
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidVpcID.NotFound", "vpc")),
            Some("security-group") => self
                .security_groups
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidGroup.NotFound", "security group")),
            Some("route-table") => self
                .route_tables
                .get_mut(id)
                .map(|r| &mut r.tags)
                .ok_or_else(|| nf("InvalidRouteTableID.NotFound", "route table")),
            _ => Err(AwsError::client(
                "InvalidID",
                format!("The ID '{id}' is not valid"),
            )),
        }
    }

    pub(super) fn create_tags(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let ids = p.list("ResourceId");
        if ids.is_empty() {
            return Err(AwsError::missing_parameter("ResourceId"));
        }
        let tags = p.tags("Tag");
        if tags.is_empty() {
            return Err(AwsError::missing_parameter("Tag"));
        }
        for (k, _) in &tags {
            check_key(k)?;
        }
        // Validate every resource before changing any: the call is all or nothing.
        for id in &ids {
            let existing = self.tags_mut(id)?;
            let mut merged = existing.clone();
            merged.extend(tags.iter().cloned());
            if merged.len() > MAX_TAGS {
                return Err(tag_limit());
            }
        }
        for id in &ids {
            self.tags_mut(id)?.extend(tags.iter().cloned());
        }
        ok_return(x);
        Ok(())
    }

    pub(super) fn delete_tags(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let ids = p.list("ResourceId");
        if ids.is_empty() {
            return Err(AwsError::missing_parameter("ResourceId"));
        }
        let specs = p.structs("Tag");
        for id in &ids {
            self.tags_mut(id)?;
        }
        for id in &ids {
            let tags = self.tags_mut(id)?;
            if specs.is_empty() {
                tags.clear();
            }
            for s in &specs {
                let Some(key) = s.get("Key") else { continue };
                // With a value, only a tag holding exactly that value goes.
                match s.get("Value") {
                    Some(v) if tags.get(key).map(String::as_str) != Some(v) => {}
                    _ => {
                        tags.remove(key);
                    }
                }
            }
        }
        ok_return(x);
        Ok(())
    }

    pub(super) fn describe_tags(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let filters = describe::filters(p, &["resource-id", "resource-type", "key", "value"])?;
        let mut rows: Vec<TagRow<'_>> = Vec::new();
        let sources: Vec<(&str, &Tags)> = self
            .instances
            .iter()
            .map(|(k, v)| (k.as_str(), &v.tags))
            .chain(
                self.network_interfaces
                    .iter()
                    .map(|(k, v)| (k.as_str(), &v.tags)),
            )
            .chain(self.subnets.iter().map(|(k, v)| (k.as_str(), &v.tags)))
            .chain(self.vpcs.iter().map(|(k, v)| (k.as_str(), &v.tags)))
            .chain(
                self.security_groups
                    .iter()
                    .map(|(k, v)| (k.as_str(), &v.tags)),
            )
            .chain(self.route_tables.iter().map(|(k, v)| (k.as_str(), &v.tags)))
            .collect();
        for (id, tags) in sources {
            let rt = resource_type(id).unwrap_or("unknown");
            for (k, v) in tags {
                rows.push(TagRow {
                    resource_id: id,
                    resource_type: rt,
                    key: k,
                    value: v,
                });
            }
        }
        rows.retain(|r| describe::matches(r, &filters));
        rows.sort_by(|a, b| (a.resource_id, a.key).cmp(&(b.resource_id, b.key)));
        // Page keys must be unique and ordered: resource id, then key.
        let keyed: Vec<(String, TagRow<'_>)> = rows
            .into_iter()
            .map(|r| (format!("{}\u{0}{}", r.resource_id, r.key), r))
            .collect();
        let page = describe::paginate(keyed, p, 1000, false, |(k, _)| k.as_str())?;
        x.list("tagSet", "item", &page.items, |x, (_, r)| {
            x.leaf("resourceId", r.resource_id)
                .leaf("resourceType", r.resource_type)
                .leaf("key", r.key)
                .leaf("value", r.value);
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}
