//! Security groups: create (names unique per VPC), delete (not while an interface uses it,
//! never the VPC's `default`), describe, and ingress rules.

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::tags::{from_specs, tag_set};
use super::{Ec2State, Tags, ok_return};

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub ingress: Vec<Permission>,
    pub tags: Tags,
}

/// One rule: protocol, port range, and one source (a CIDR or another group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub cidr: Option<Ipv4Net>,
    pub group_id: Option<String>,
    pub description: Option<String>,
}

impl Permission {
    fn same_rule(&self, o: &Permission) -> bool {
        self.protocol == o.protocol
            && self.from_port == o.from_port
            && self.to_port == o.to_port
            && self.cidr == o.cidr
            && self.group_id == o.group_id
    }
}

impl Filterable for SecurityGroup {
    fn filter_values(&self, name: &str) -> Vec<String> {
        match name {
            "group-id" => vec![self.id.clone()],
            "group-name" => vec![self.name.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "description" => vec![self.description.clone()],
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub fn group_not_found(id: &str) -> AwsError {
    AwsError::client(
        "InvalidGroup.NotFound",
        format!("The security group '{id}' does not exist"),
    )
}

/// The rules of `IpPermissions.N` (with `IpRanges.M.CidrIp` and `Groups.M.GroupId`), or the
/// older flat `IpProtocol` / `FromPort` / `ToPort` / `CidrIp` form.
fn permissions(p: &Params) -> Result<Vec<Permission>, AwsError> {
    let mut out = Vec::new();
    let mut push = |proto: &str,
                    from: Option<i64>,
                    to: Option<i64>,
                    cidr: Option<&str>,
                    group: Option<&str>,
                    desc: Option<&str>|
     -> Result<(), AwsError> {
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" | "6" => "tcp".to_string(),
            "udp" | "17" => "udp".to_string(),
            "icmp" | "1" => "icmp".to_string(),
            "-1" | "all" => "-1".to_string(),
            other => {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Invalid value '{other}' for IP protocol. Unknown protocol."
                )));
            }
        };
        if matches!(proto.as_str(), "tcp" | "udp") && (from.is_none() || to.is_none()) {
            return Err(AwsError::client(
                "InvalidParameterValue",
                "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
            ));
        }
        if let (Some(f), Some(t)) = (from, to)
            && proto != "icmp"
            && (f > t || !(0..=65535).contains(&f) || !(0..=65535).contains(&t))
        {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid port range {f}-{t}"
            )));
        }
        let cidr = cidr
            .map(|c| {
                c.parse::<Ipv4Net>().map_err(|_| {
                    AwsError::invalid_parameter_value(format!("CIDR block {c} is malformed"))
                })
            })
            .transpose()?;
        out.push(Permission {
            protocol: proto,
            from_port: from,
            to_port: to,
            cidr,
            group_id: group.map(str::to_string),
            description: desc.map(str::to_string),
        });
        Ok(())
    };
    for perm in p.structs("IpPermissions") {
        let proto = perm.required("IpProtocol")?.to_string();
        let from = perm.get_i64("FromPort")?;
        let to = perm.get_i64("ToPort")?;
        let ranges = perm.structs("IpRanges");
        let groups = perm.structs("Groups");
        if ranges.is_empty() && groups.is_empty() {
            push(&proto, from, to, None, None, None)?;
        }
        for r in &ranges {
            push(
                &proto,
                from,
                to,
                Some(r.required("CidrIp")?),
                None,
                r.get("Description"),
            )?;
        }
        for g in &groups {
            push(
                &proto,
                from,
                to,
                None,
                Some(g.required("GroupId")?),
                g.get("Description"),
            )?;
        }
    }
    if let Some(proto) = p.get("IpProtocol") {
        push(
            proto,
            p.get_i64("FromPort")?,
            p.get_i64("ToPort")?,
            p.get("CidrIp"),
            p.get("SourceSecurityGroupId"),
            None,
        )?;
    }
    if out.is_empty() {
        return Err(AwsError::missing_parameter("IpPermissions"));
    }
    Ok(out)
}

fn permission_xml(x: &mut Xml, perm: &Permission, owner: &str) {
    x.leaf("ipProtocol", &perm.protocol)
        .opt_leaf("fromPort", perm.from_port)
        .opt_leaf("toPort", perm.to_port)
        .list("groups", "item", perm.group_id.iter(), |x, g| {
            x.leaf("groupId", g).leaf("userId", owner);
        })
        .list("ipRanges", "item", perm.cidr.iter(), |x, c| {
            x.leaf("cidrIp", c)
                .opt_leaf("description", perm.description.as_deref());
        })
        .elem("ipv6Ranges", |_| {})
        .elem("prefixListIds", |_| {});
}

impl Ec2State {
    pub(super) fn group(&self, id: &str) -> Result<&SecurityGroup, AwsError> {
        self.security_groups
            .get(id)
            .ok_or_else(|| group_not_found(id))
    }

    pub(super) fn insert_security_group(
        &mut self,
        id: Option<String>,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: Tags,
    ) -> String {
        let id = id.unwrap_or_else(|| self.ids.id("sg"));
        self.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id: id.clone(),
                name: name.to_string(),
                description: description.to_string(),
                vpc_id: vpc_id.to_string(),
                ingress: Vec::new(),
                tags,
            },
        );
        id
    }

    /// The default security group of a VPC.
    pub(super) fn default_group(&self, vpc_id: &str) -> Option<String> {
        self.security_groups
            .values()
            .find(|g| g.vpc_id == vpc_id && g.name == "default")
            .map(|g| g.id.clone())
    }

    /// Security group ids for a new interface: each must exist and be in the VPC.
    pub(super) fn check_groups(&self, ids: &[&str], vpc_id: &str) -> Result<(), AwsError> {
        for id in ids {
            let g = self.group(id)?;
            if g.vpc_id != vpc_id {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Security group {id} and subnet belong to different networks."
                )));
            }
        }
        Ok(())
    }

    pub(super) fn create_security_group(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let name = p.required("GroupName")?.to_string();
        let desc = p.required("GroupDescription")?.to_string();
        let vpc_id = match p.get("VpcId") {
            Some(v) => v.to_string(),
            None => {
                return Err(AwsError::client(
                    "VPCIdNotSpecified",
                    "No default VPC for this user",
                ));
            }
        };
        self.vpc(&vpc_id)?;
        if name.to_ascii_lowercase().starts_with("sg-") {
            return Err(AwsError::invalid_parameter_value(
                "Group names may not be in the format sg-*",
            ));
        }
        if self
            .security_groups
            .values()
            .any(|g| g.vpc_id == vpc_id && g.name == name)
        {
            return Err(AwsError::client(
                "InvalidGroup.Duplicate",
                format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
            ));
        }
        let tags = from_specs(p, &["security-group"], "security-group")?;
        let id = self.insert_security_group(None, &vpc_id, &name, &desc, tags.clone());
        x.leaf("return", true).leaf("groupId", &id);
        tag_set(x, &tags);
        Ok(())
    }

    pub(super) fn delete_security_group(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = match (p.get("GroupId"), p.get("GroupName")) {
            (Some(id), _) => id.to_string(),
            (None, Some(name)) => self
                .security_groups
                .values()
                .find(|g| g.name == name)
                .map(|g| g.id.clone())
                .ok_or_else(|| group_not_found(name))?,
            (None, None) => return Err(AwsError::missing_parameter("GroupId")),
        };
        let g = self.group(&id)?;
        if g.name == "default" {
            return Err(AwsError::client(
                "CannotDelete",
                format!(
                    "the specified group: \"{id}\" name: \"default\" cannot be deleted by a user"
                ),
            ));
        }
        let in_use = self
            .network_interfaces
            .values()
            .any(|e| e.groups.contains(&id))
            || self
                .security_groups
                .values()
                .any(|o| o.ingress.iter().any(|r| r.group_id.as_deref() == Some(&id)));
        if in_use {
            return Err(AwsError::client(
                "DependencyViolation",
                format!("resource {id} has a dependent object"),
            ));
        }
        self.security_groups.remove(&id);
        ok_return(x);
        Ok(())
    }

    pub(super) fn change_ingress(
        &mut self,
        p: &Params,
        authorize: bool,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = p.required("GroupId")?.to_string();
        self.group(&id)?;
        let perms = permissions(p)?;
        for perm in &perms {
            if let Some(g) = &perm.group_id {
                self.group(g)?;
            }
        }
        let Some(g) = self.security_groups.get_mut(&id) else {
            return Err(group_not_found(&id));
        };
        for perm in &perms {
            let existing = g.ingress.iter().position(|r| r.same_rule(perm));
            match (authorize, existing) {
                (true, Some(_)) => {
                    return Err(AwsError::client(
                        "InvalidPermission.Duplicate",
                        format!(
                            "the specified rule \"peer: {}, {}, ALLOW\" already exists",
                            perm.cidr
                                .map(|c| c.to_string())
                                .or(perm.group_id.clone())
                                .unwrap_or_default(),
                            perm.protocol
                        ),
                    ));
                }
                (false, None) => {
                    return Err(AwsError::client(
                        "InvalidPermission.NotFound",
                        "The specified rule does not exist in this security group.",
                    ));
                }
                _ => {}
            }
        }
        for perm in perms {
            if authorize {
                g.ingress.push(perm);
            } else {
                g.ingress.retain(|r| !r.same_rule(&perm));
            }
        }
        ok_return(x);
        Ok(())
    }

    pub(super) fn describe_security_groups(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(p, &["group-id", "group-name", "vpc-id", "description"])?;
        let ids = p.list("GroupId");
        let names = p.list("GroupName");
        describe::check_ids(
            &ids,
            |id| self.security_groups.contains_key(id),
            group_not_found,
        )?;
        let items: Vec<&SecurityGroup> = self
            .security_groups
            .values()
            .filter(|g| ids.is_empty() || ids.contains(&g.id.as_str()))
            .filter(|g| names.is_empty() || names.contains(&g.name.as_str()))
            .filter(|g| describe::matches(*g, &filters))
            .collect();
        let with_ids = !ids.is_empty() || !names.is_empty();
        let page = describe::paginate(items, p, 1000, with_ids, |g| g.id.as_str())?;
        let owner = &self.account_id;
        x.list("securityGroupInfo", "item", &page.items, |x, g| {
            x.leaf("ownerId", owner)
                .leaf("groupId", &g.id)
                .leaf("groupName", &g.name)
                .leaf("groupDescription", &g.description)
                .leaf("vpcId", &g.vpc_id)
                .list("ipPermissions", "item", &g.ingress, |x, perm| {
                    permission_xml(x, perm, owner)
                })
                .list("ipPermissionsEgress", "item", [()], |x, ()| {
                    x.leaf("ipProtocol", "-1")
                        .elem("groups", |_| {})
                        .list("ipRanges", "item", [()], |x, ()| {
                            x.leaf("cidrIp", "0.0.0.0/0");
                        })
                        .elem("ipv6Ranges", |_| {})
                        .elem("prefixListIds", |_| {});
                });
            tag_set(x, &g.tags);
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}
