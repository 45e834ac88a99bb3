//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer, SetSecurityGroups,
//! SetSubnets and SetIpAddressType.
//!
//! Rules (ELBv2 API reference, CreateLoadBalancer): an Application Load Balancer needs
//! subnets in at least two Availability Zones ("At least two subnets in two different
//! Availability Zones must be specified", `ValidationError`) and at most one subnet per zone;
//! all subnets are in one VPC; security groups are for Application and Network Load Balancers
//! (NLBs since August 2023), never for Gateway Load Balancers. Deleting a load balancer that
//! does not exist succeeds; deleting one with `deletion_protection.enabled` is
//! `OperationNotPermitted`. Deleting a load balancer deletes its listeners and their rules.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::errors::{
    enum_in, invalid_configuration, load_balancer_not_found, operation_not_permitted, required,
    too_many, validation,
};
use super::model::{LbSubnet, LbType, LoadBalancer};
use super::names::{ArnKind, NameKind, expect_arn, validate_name};
use super::pagination::paginate;
use super::{Elbv2, NetworkView, attributes, iso8601_now, tags};

const SCHEMES: [&str; 2] = ["internet-facing", "internal"];
const IP_ADDRESS_TYPES: [&str; 3] = ["ipv4", "dualstack", "dualstack-without-public-ipv4"];

/// Route 53 hosted zones of ELB DNS names per region: (ALB, NLB/GWLB). From the "Elastic Load
/// Balancing endpoints and quotas" table of the AWS General Reference.
fn hosted_zone(region: &str, kind: LbType) -> &'static str {
    let (alb, nlb) = match region {
        "us-east-1" => ("Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
        "us-east-2" => ("Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
        "us-west-1" => ("Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
        "eu-west-1" => ("Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
        "eu-central-1" => ("Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
        _ => ("Z1H1FL5HABSF5", "Z18D5FSROUN65G"), // us-west-2
    };
    match kind {
        LbType::Application => alb,
        LbType::Network | LbType::Gateway => nlb,
    }
}

/// The subnets a request names, in `Subnets.member.N` or `SubnetMappings.member.N` form.
struct SubnetRequest {
    subnet_id: String,
    allocation_id: Option<String>,
    private_ipv4_address: Option<String>,
}

fn subnet_request(params: &Params) -> Result<Vec<SubnetRequest>, AwsError> {
    let plain = params.list("Subnets.member");
    let mappings = params.structs("SubnetMappings.member");
    if !plain.is_empty() && !mappings.is_empty() {
        return Err(validation(
            "You can specify subnets or subnet mappings, but not both",
        ));
    }
    if !plain.is_empty() {
        return Ok(plain
            .into_iter()
            .map(|s| SubnetRequest {
                subnet_id: s.to_string(),
                allocation_id: None,
                private_ipv4_address: None,
            })
            .collect());
    }
    mappings
        .iter()
        .map(|m| {
            Ok(SubnetRequest {
                subnet_id: required(m, "SubnetId")?.to_string(),
                allocation_id: m.get("AllocationId").map(str::to_string),
                private_ipv4_address: m.get("PrivateIPv4Address").map(str::to_string),
            })
        })
        .collect()
}

/// Resolves and checks subnets: they exist, share one VPC, one per zone, two zones for ALBs.
fn resolve_subnets(
    net: &dyn NetworkView,
    kind: LbType,
    requested: Vec<SubnetRequest>,
    vpc: Option<&str>,
) -> Result<(String, Vec<LbSubnet>), AwsError> {
    if requested.is_empty() {
        return Err(validation("At least one subnet must be specified"));
    }
    let mut vpc_id: Option<String> = vpc.map(str::to_string);
    let mut zones = BTreeSet::new();
    let mut out = Vec::new();
    for r in requested {
        let Some(info) = net.subnet(&r.subnet_id) else {
            return Err(AwsError::client(
                "SubnetNotFound",
                format!("The subnet ID '{}' is not valid", r.subnet_id),
            ));
        };
        match &vpc_id {
            Some(v) if *v != info.vpc_id => {
                return Err(AwsError::client(
                    "InvalidSubnet",
                    format!(
                        "Subnet '{}' is in VPC '{}', not in VPC '{v}'; all subnets must be in the same VPC",
                        r.subnet_id, info.vpc_id
                    ),
                ));
            }
            Some(_) => {}
            None => vpc_id = Some(info.vpc_id.clone()),
        }
        if let Some(ip) = &r.private_ipv4_address {
            let parsed: Option<std::net::Ipv4Addr> = ip.parse().ok();
            if !parsed.is_some_and(|a| info.cidr.contains(&a)) {
                return Err(invalid_configuration(format!(
                    "Private IPv4 address '{ip}' is not in the CIDR of subnet '{}'",
                    r.subnet_id
                )));
            }
        }
        if !zones.insert(info.availability_zone.clone()) {
            return Err(invalid_configuration(
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
            ));
        }
        out.push(LbSubnet {
            subnet_id: r.subnet_id,
            zone: info.availability_zone,
            private_ipv4_address: r.private_ipv4_address,
            allocation_id: r.allocation_id,
        });
    }
    if kind == LbType::Application && zones.len() < 2 {
        return Err(validation(
            "At least two subnets in two different Availability Zones must be specified",
        ));
    }
    let vpc_id = vpc_id.unwrap_or_default();
    Ok((vpc_id, out))
}

fn resolve_security_groups(
    net: &dyn NetworkView,
    vpc_id: &str,
    groups: &[&str],
) -> Result<Vec<String>, AwsError> {
    let mut out: Vec<String> = Vec::new();
    for sg in groups {
        match net.security_group_vpc(sg) {
            None => {
                return Err(AwsError::client(
                    "InvalidSecurityGroup",
                    format!("Security group '{sg}' does not exist"),
                ));
            }
            Some(v) if v != vpc_id => {
                return Err(AwsError::client(
                    "InvalidSecurityGroup",
                    format!("Security group '{sg}' does not belong to VPC '{vpc_id}'"),
                ));
            }
            Some(_) => {
                if !out.iter().any(|s| s == sg) {
                    out.push(sg.to_string());
                }
            }
        }
    }
    Ok(out)
}

impl Elbv2 {
    pub(super) fn load_balancer(&self, arn: &str) -> Result<&LoadBalancer, AwsError> {
        expect_arn(arn, ArnKind::LoadBalancer)?;
        self.load_balancers
            .get(arn)
            .ok_or_else(load_balancer_not_found)
    }

    fn load_balancer_mut(&mut self, arn: &str) -> Result<&mut LoadBalancer, AwsError> {
        expect_arn(arn, ArnKind::LoadBalancer)?;
        self.load_balancers
            .get_mut(arn)
            .ok_or_else(load_balancer_not_found)
    }

    pub(super) fn create_load_balancer(
        &mut self,
        net: &dyn NetworkView,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let name = required(params, "Name")?;
        validate_name(NameKind::LoadBalancer, name)?;
        let kind = match enum_in(params, "Type", &LbType::VALUES)? {
            Some(t) => LbType::parse(t).unwrap_or(LbType::Application),
            None => LbType::Application,
        };
        let scheme = enum_in(params, "Scheme", &SCHEMES)?.unwrap_or("internet-facing");
        let ip_address_type =
            enum_in(params, "IpAddressType", &IP_ADDRESS_TYPES)?.unwrap_or("ipv4");
        if ip_address_type == "dualstack-without-public-ipv4" && kind != LbType::Application {
            return Err(validation(
                "IP address type 'dualstack-without-public-ipv4' is only supported for Application Load Balancers",
            ));
        }
        let (vpc_id, subnets) = resolve_subnets(net, kind, subnet_request(params)?, None)?;
        let sg_ids = params.list("SecurityGroups.member");
        if kind == LbType::Gateway && !sg_ids.is_empty() {
            return Err(validation(
                "Security groups are not supported for load balancers with type 'gateway'",
            ));
        }
        let security_groups = resolve_security_groups(net, &vpc_id, &sg_ids)?;
        let new_tags =
            tags::parse_new_tags(params, "Tags.member", self.config.quotas.tags_per_resource)?;

        // Creating is idempotent: the same name with the same settings answers the existing
        // load balancer; the same name with other settings is a duplicate.
        if let Some(existing) = self.load_balancers.values().find(|lb| lb.name == name) {
            let same_subnets: BTreeSet<&str> = existing
                .subnets
                .iter()
                .map(|s| s.subnet_id.as_str())
                .collect();
            let want: BTreeSet<&str> = subnets.iter().map(|s| s.subnet_id.as_str()).collect();
            if existing.kind == kind && existing.scheme == scheme && same_subnets == want {
                let mut x = Xml::new();
                let lb = existing.clone();
                x.list("LoadBalancers", "member", [&lb], |x, lb| {
                    self.write_load_balancer(x, lb, now)
                });
                return Ok(x);
            }
            return Err(AwsError::client(
                "DuplicateLoadBalancerName",
                "A load balancer with the same name exists, but with different settings",
            ));
        }
        if self.load_balancers.len() >= self.config.quotas.load_balancers {
            return Err(too_many(
                "TooManyLoadBalancers",
                "The quota for the number of load balancers has been reached",
            ));
        }

        let (seq, id) = self.next_id();
        let arn = self.arn(&format!("loadbalancer/{}/{name}/{id}", kind.arn_kind()));
        let prefix = if scheme == "internal" {
            "internal-"
        } else {
            ""
        };
        let dns_name = match kind {
            // ALB: name-1234567890.us-west-2.elb.amazonaws.com
            LbType::Application => format!(
                "{prefix}{name}-{}.{}.elb.amazonaws.com",
                1_000_000_000 + (crate::ids::splitmix64(seq ^ 0xa1b) % 9_000_000_000),
                self.region
            ),
            // NLB/GWLB: name-0123456789abcdef.elb.us-west-2.amazonaws.com
            LbType::Network | LbType::Gateway => {
                format!("{prefix}{name}-{id}.elb.{}.amazonaws.com", self.region)
            }
        };
        let lb = LoadBalancer {
            arn: arn.clone(),
            name: name.to_string(),
            kind,
            scheme: scheme.to_string(),
            vpc_id,
            subnets,
            security_groups,
            ip_address_type: ip_address_type.to_string(),
            dns_name,
            canonical_hosted_zone_id: hosted_zone(&self.region, kind).to_string(),
            created_time: iso8601_now(),
            attributes: attributes::load_balancer_defaults(kind),
            tags: new_tags,
            seq,
            created_at: now,
        };
        tracing::info!(%arn, kind = kind.as_str(), "Load balancer created");
        let mut x = Xml::new();
        x.list("LoadBalancers", "member", [&lb], |x, lb| {
            self.write_load_balancer(x, lb, now)
        });
        self.load_balancers.insert(arn, lb);
        Ok(x)
    }

    pub(super) fn describe_load_balancers(
        &self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let arns = params.list("LoadBalancerArns.member");
        let names = params.list("Names.member");
        if !arns.is_empty() && !names.is_empty() {
            return Err(validation(
                "Load balancer names and load balancer ARNs cannot be specified at the same time",
            ));
        }
        if names.len() > 20 || arns.len() > 20 {
            return Err(validation(
                "1 validation error detected: Member must have length less than or equal to 20",
            ));
        }
        let found: Vec<&LoadBalancer> = if !arns.is_empty() {
            let mut v = Vec::new();
            for arn in &arns {
                v.push(self.load_balancer(arn)?);
            }
            v
        } else if !names.is_empty() {
            let mut v = Vec::new();
            for name in &names {
                let Some(lb) = self.load_balancers.values().find(|lb| lb.name == *name) else {
                    return Err(AwsError::client(
                        "LoadBalancerNotFound",
                        format!("Load balancers '[{name}]' not found"),
                    ));
                };
                v.push(lb);
            }
            v
        } else {
            self.load_balancers.values().collect()
        };
        let mut dedup = BTreeMap::new();
        for lb in found {
            dedup.insert(lb.arn.as_str(), lb);
        }
        let page = paginate(dedup.into_values().collect(), |lb| lb.seq, params)?;
        let mut x = Xml::new();
        x.list("LoadBalancers", "member", page.items, |x, lb| {
            self.write_load_balancer(x, lb, now)
        });
        x.opt_leaf("NextMarker", page.next_marker);
        Ok(x)
    }

    pub(super) fn delete_load_balancer(
        &mut self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "LoadBalancerArn")?;
        expect_arn(arn, ArnKind::LoadBalancer)?;
        let Some(lb) = self.load_balancers.get(arn) else {
            // "If the load balancer does not exist or has already been deleted, the call
            // succeeds." (DeleteLoadBalancer, ELBv2 API reference)
            return Ok(Xml::new());
        };
        if lb
            .attributes
            .get("deletion_protection.enabled")
            .is_some_and(|v| v == "true")
        {
            return Err(operation_not_permitted(format!(
                "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
            )));
        }
        let listeners: Vec<String> = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == arn)
            .map(|l| l.arn.clone())
            .collect();
        for l in &listeners {
            self.remove_listener(l);
        }
        self.load_balancers.remove(arn);
        self.refresh_usage(now);
        tracing::info!(%arn, listeners = listeners.len(), "Load balancer deleted");
        Ok(Xml::new())
    }

    pub(super) fn set_security_groups(
        &mut self,
        net: &dyn NetworkView,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "LoadBalancerArn")?;
        let groups = params.list("SecurityGroups.member");
        let lb = self.load_balancer(arn)?;
        match lb.kind {
            LbType::Gateway => {
                return Err(validation(
                    "Security groups are not supported for load balancers with type 'gateway'",
                ));
            }
            // An NLB created without security groups cannot get any later.
            LbType::Network if lb.security_groups.is_empty() => {
                return Err(invalid_configuration(
                    "You cannot set security groups on a Network Load Balancer which was created without any security groups",
                ));
            }
            LbType::Application if groups.is_empty() => {
                return Err(validation(
                    "At least one security group must be specified for an Application Load Balancer",
                ));
            }
            _ => {}
        }
        let resolved = resolve_security_groups(net, &lb.vpc_id, &groups)?;
        self.load_balancer_mut(arn)?.security_groups = resolved.clone();
        let mut x = Xml::new();
        x.list("SecurityGroupIds", "member", resolved, |x, sg| {
            x.text(&sg);
        });
        Ok(x)
    }

    pub(super) fn set_subnets(
        &mut self,
        net: &dyn NetworkView,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "LoadBalancerArn")?;
        let lb = self.load_balancer(arn)?;
        let (_, subnets) =
            resolve_subnets(net, lb.kind, subnet_request(params)?, Some(&lb.vpc_id))?;
        let lb = self.load_balancer_mut(arn)?;
        lb.subnets = subnets;
        let mut x = Xml::new();
        write_zones(&mut x, &lb.subnets);
        x.leaf("IpAddressType", &lb.ip_address_type);
        Ok(x)
    }

    pub(super) fn set_ip_address_type(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let arn = required(params, "LoadBalancerArn")?;
        required(params, "IpAddressType")?;
        let t = enum_in(params, "IpAddressType", &IP_ADDRESS_TYPES)?.unwrap_or("ipv4");
        let lb = self.load_balancer_mut(arn)?;
        if t == "dualstack-without-public-ipv4"
            && (lb.kind != LbType::Application || lb.scheme != "internet-facing")
        {
            return Err(validation(
                "IP address type 'dualstack-without-public-ipv4' is only supported for internet-facing Application Load Balancers",
            ));
        }
        lb.ip_address_type = t.to_string();
        let mut x = Xml::new();
        x.leaf("IpAddressType", t);
        Ok(x)
    }

    fn write_load_balancer(&self, x: &mut Xml, lb: &LoadBalancer, now: Instant) {
        let provisioned =
            now.saturating_duration_since(lb.created_at) >= self.config.provisioning_delay();
        x.leaf("LoadBalancerArn", &lb.arn)
            .leaf("DNSName", &lb.dns_name)
            .leaf("CanonicalHostedZoneId", &lb.canonical_hosted_zone_id)
            .leaf("CreatedTime", &lb.created_time)
            .leaf("LoadBalancerName", &lb.name)
            .leaf("Scheme", &lb.scheme)
            .leaf("VpcId", &lb.vpc_id)
            .elem("State", |x| {
                x.leaf(
                    "Code",
                    if provisioned {
                        "active"
                    } else {
                        "provisioning"
                    },
                );
            })
            .leaf("Type", lb.kind.as_str());
        write_zones(x, &lb.subnets);
        if lb.kind != LbType::Gateway {
            x.list("SecurityGroups", "member", &lb.security_groups, |x, sg| {
                x.text(sg);
            });
        }
        x.leaf("IpAddressType", &lb.ip_address_type);
    }
}

fn write_zones(x: &mut Xml, subnets: &[LbSubnet]) {
    x.list("AvailabilityZones", "member", subnets, |x, s| {
        x.leaf("ZoneName", &s.zone).leaf("SubnetId", &s.subnet_id);
        if s.allocation_id.is_some() || s.private_ipv4_address.is_some() {
            x.list("LoadBalancerAddresses", "member", [s], |x, s| {
                x.opt_leaf("AllocationId", s.allocation_id.as_deref())
                    .opt_leaf("PrivateIPv4Address", s.private_ipv4_address.as_deref());
            });
        }
    });
}
