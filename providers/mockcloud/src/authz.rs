//! What one call asks IAM: the `service:Action` on each resource it touches, with the
//! request's and each resource's tags as condition keys.
//!
//! | Call | Resources checked |
//! |---|---|
//! | every `Describe*` | `*` |
//! | `CreateNetworkInterface` | the new `network-interface/*`, the subnet, each security group |
//! | `Attach`/`DetachNetworkInterface` | the interface and the instance |
//! | `Delete`/`ModifyNetworkInterfaceAttribute`, `Assign`/`UnassignPrivateIpAddresses` | the interface |
//! | `ModifyInstanceAttribute` | the instance |
//! | `CreateRoute`, `ReplaceRoute`, `DeleteRoute` | the route table |
//! | `CreateSecurityGroup` | the new `security-group/*` and the VPC |
//! | `DeleteSecurityGroup`, `Authorize`/`RevokeSecurityGroupIngress` | the group |
//! | `CreateTags`, `DeleteTags` | each resource named |
//! | `CreateLoadBalancer` | `loadbalancer/{app,net}/NAME/*` |
//! | `CreateTargetGroup` | `targetgroup/NAME/*` |
//! | `CreateListener` / `CreateRule` | `listener/.../*` of the load balancer / `listener-rule/.../*` of the listener |
//! | other ELBv2 calls | the load balancer, target group, listener or rule(s) named (`AddTags`/`RemoveTags`: each ARN) |
//! | any other EC2 call | `*` |
//!
//! A create that carries tags (`TagSpecification`, `Tags`) is also checked as the tagging
//! action (`ec2:CreateTags` with `ec2:CreateAction`, `elasticloadbalancing:AddTags` with
//! `elasticloadbalancing:CreateAction`) on the new resource, as AWS does. Condition keys:
//! `aws:RequestTag/K` and `aws:TagKeys` from the request's tags, `aws:ResourceTag/K` (and, for
//! EC2, `ec2:ResourceTag/K`) from the resource's tags. A resource that does not exist is not
//! checked, so the call answers its own `NotFound`, as EC2 does.

use std::collections::BTreeMap;

use std::time::Instant;

use crate::awserror::AwsError;
use crate::cloud::{Cloud, Service};
use crate::ec2::Tags;
use crate::query::Params;

use crate::iam::Request;

/// Asks IAM whether `caller` may make this call (always yes without an `iam` section). A
/// refusal is counted and logged as a denied call; the caller gets the error.
pub fn authorize(
    cloud: &mut Cloud,
    service: Service,
    action: &str,
    params: &Params,
    caller: &str,
    now: Instant,
) -> Result<(), AwsError> {
    if cloud.iam.is_none() {
        return Ok(());
    }
    let now_ms = cloud.now_ms(now);
    cloud.ec2.advance(now_ms);
    let requests = requests(cloud, service, action, params);
    let Some(iam) = cloud.iam.as_mut() else {
        return Ok(());
    };
    let verdict = iam.authorize(caller, service, &requests);
    if verdict.is_err() {
        let call = format!("{}:{action}", service.name());
        cloud.call_log.record_outcome(now_ms, caller, &call, true);
        *cloud.calls.entry(call).or_insert(0) += 1;
    }
    verdict
}

/// The IAM requests one call makes, in the order they are checked.
pub fn requests(cloud: &Cloud, service: Service, action: &str, p: &Params) -> Vec<Request> {
    match service {
        Service::Ec2 => ec2(cloud, action, p),
        Service::Elbv2 => elbv2(cloud, action, p),
    }
}

/// One request under construction: `service:Action` on `resource`.
struct Build {
    prefix: &'static str,
    action: String,
    request_tags: Tags,
    out: Vec<Request>,
}

impl Build {
    fn new(prefix: &'static str, action: &str, request_tags: Tags) -> Build {
        Build {
            prefix,
            action: action.to_string(),
            request_tags,
            out: Vec::new(),
        }
    }

    fn push(
        &mut self,
        action: &str,
        resource: String,
        resource_tags: Option<&Tags>,
    ) -> &mut Request {
        let mut r = Request::new(format!("{}:{action}", self.prefix), resource);
        for (k, v) in &self.request_tags {
            r.set(&format!("aws:RequestTag/{k}"), [v.clone()]);
        }
        if !self.request_tags.is_empty() {
            r.set("aws:TagKeys", self.request_tags.keys().cloned());
        }
        if let Some(tags) = resource_tags {
            for (k, v) in tags {
                r.set(&format!("aws:ResourceTag/{k}"), [v.clone()]);
                if self.prefix == "ec2" {
                    r.set(&format!("ec2:ResourceTag/{k}"), [v.clone()]);
                }
            }
        }
        self.out.push(r);
        self.out.last_mut().expect("just pushed")
    }

    /// The call's own action on an existing resource.
    fn on(&mut self, resource: String, tags: Option<&Tags>) {
        let action = self.action.clone();
        self.push(&action, resource, tags);
    }

    /// The call's own action on the resource it creates, plus the tagging action when it
    /// carries tags.
    fn create(&mut self, resource: String, tag_action: &str) {
        let action = self.action.clone();
        self.push(&action, resource.clone(), None);
        if !self.request_tags.is_empty() {
            let key = format!("{}:CreateAction", self.prefix);
            self.push(tag_action, resource, None).set(&key, [action]);
        }
    }
}

fn ec2(cloud: &Cloud, action: &str, p: &Params) -> Vec<Request> {
    let s = &cloud.ec2;
    let arn =
        |kind: &str, id: &str| format!("arn:aws:ec2:{}:{}:{kind}/{id}", s.region, s.account_id);
    let spec_tags = |rt: &str| -> Tags {
        p.structs("TagSpecification")
            .into_iter()
            .filter(|spec| spec.get("ResourceType") == Some(rt))
            .flat_map(|spec| spec.tags("Tag"))
            .collect()
    };
    let eni = |b: &mut Build, id: Option<&str>| {
        if let Some(e) = id.and_then(|id| s.network_interfaces.get(id)) {
            b.on(arn("network-interface", &e.id), Some(&e.tags));
        }
    };
    let instance = |b: &mut Build, id: Option<&str>| {
        if let Some(i) = id.and_then(|id| s.instances.get(id)) {
            b.on(arn("instance", &i.id), Some(&i.tags));
        }
    };
    let group = |b: &mut Build, id: Option<&str>| {
        let found = id.and_then(|id| {
            s.security_groups
                .get(id)
                .or_else(|| s.security_groups.values().find(|g| g.name == id))
        });
        if let Some(g) = found {
            b.on(arn("security-group", &g.id), Some(&g.tags));
        }
    };
    match action {
        a if a.starts_with("Describe") => {
            let mut b = Build::new("ec2", a, Tags::new());
            b.on("*".into(), None);
            b.out
        }
        "CreateNetworkInterface" => {
            let mut b = Build::new("ec2", action, spec_tags("network-interface"));
            b.create(arn("network-interface", "*"), "CreateTags");
            if let Some(sn) = p.get("SubnetId").and_then(|id| s.subnets.get(id)) {
                b.on(arn("subnet", &sn.id), Some(&sn.tags));
            }
            for g in p.list("SecurityGroupId") {
                group(&mut b, Some(g));
            }
            b.out
        }
        "CreateSecurityGroup" => {
            let mut b = Build::new("ec2", action, spec_tags("security-group"));
            b.create(arn("security-group", "*"), "CreateTags");
            if let Some(v) = p.get("VpcId").and_then(|id| s.vpcs.get(id)) {
                b.on(arn("vpc", &v.id), Some(&v.tags));
            }
            b.out
        }
        "AttachNetworkInterface" => {
            let mut b = Build::new("ec2", action, Tags::new());
            eni(&mut b, p.get("NetworkInterfaceId"));
            instance(&mut b, p.get("InstanceId"));
            b.out
        }
        "DetachNetworkInterface" => {
            let mut b = Build::new("ec2", action, Tags::new());
            let id = p.get("AttachmentId");
            let e = s
                .network_interfaces
                .values()
                .find(|e| e.attachment.as_ref().map(|a| a.id.as_str()) == id);
            if let Some(e) = e {
                eni(&mut b, Some(&e.id));
                instance(
                    &mut b,
                    e.attachment.as_ref().map(|a| a.instance_id.as_str()),
                );
            }
            b.out
        }
        "DeleteNetworkInterface"
        | "ModifyNetworkInterfaceAttribute"
        | "AssignPrivateIpAddresses"
        | "UnassignPrivateIpAddresses" => {
            let mut b = Build::new("ec2", action, Tags::new());
            eni(&mut b, p.get("NetworkInterfaceId"));
            b.out
        }
        "ModifyInstanceAttribute" => {
            let mut b = Build::new("ec2", action, Tags::new());
            instance(&mut b, p.get("InstanceId"));
            b.out
        }
        "CreateRoute" | "ReplaceRoute" | "DeleteRoute" => {
            let mut b = Build::new("ec2", action, Tags::new());
            if let Some(t) = p.get("RouteTableId").and_then(|id| s.route_tables.get(id)) {
                b.on(arn("route-table", &t.id), Some(&t.tags));
            }
            b.out
        }
        "DeleteSecurityGroup" | "AuthorizeSecurityGroupIngress" | "RevokeSecurityGroupIngress" => {
            let mut b = Build::new("ec2", action, Tags::new());
            group(&mut b, p.get("GroupId").or_else(|| p.get("GroupName")));
            b.out
        }
        "CreateTags" | "DeleteTags" => {
            let tags: Tags = p.tags("Tag").into_iter().collect();
            let mut b = Build::new("ec2", action, tags);
            for id in p.list("ResourceId") {
                if let Some((kind, t)) = ec2_resource(cloud, id) {
                    b.on(arn(kind, id), Some(t));
                }
            }
            b.out
        }
        other => {
            let mut b = Build::new("ec2", other, Tags::new());
            b.on("*".into(), None);
            b.out
        }
    }
}

/// The type and tags of an EC2 resource by id.
fn ec2_resource<'a>(cloud: &'a Cloud, id: &str) -> Option<(&'static str, &'a Tags)> {
    let s = &cloud.ec2;
    let kind = crate::ec2::tags_resource_type(id)?;
    let tags = match kind {
        "instance" => &s.instances.get(id)?.tags,
        "network-interface" => &s.network_interfaces.get(id)?.tags,
        "subnet" => &s.subnets.get(id)?.tags,
        "vpc" => &s.vpcs.get(id)?.tags,
        "security-group" => &s.security_groups.get(id)?.tags,
        "route-table" => &s.route_tables.get(id)?.tags,
        _ => return None,
    };
    Some((kind, tags))
}

fn elbv2(cloud: &Cloud, action: &str, p: &Params) -> Vec<Request> {
    let prefix = format!(
        "arn:aws:elasticloadbalancing:{}:{}:",
        cloud.ec2.region, cloud.ec2.account_id
    );
    let request_tags: BTreeMap<String, String> = p.tags("Tags.member").into_iter().collect();
    let existing = |b: &mut Build, arn: Option<&str>| {
        if let Some(arn) = arn
            && let Some(tags) = cloud.elbv2.resource_tags(arn)
        {
            b.on(arn.to_string(), Some(tags));
        }
    };
    match action {
        a if a.starts_with("Describe") => {
            let mut b = Build::new("elasticloadbalancing", a, Tags::new());
            b.on("*".into(), None);
            b.out
        }
        "CreateLoadBalancer" => {
            let kind = match p.get("Type") {
                Some("network") => "net",
                Some("gateway") => "gwy",
                _ => "app",
            };
            let name = p.get("Name").unwrap_or_default();
            let mut b = Build::new("elasticloadbalancing", action, request_tags);
            b.create(format!("{prefix}loadbalancer/{kind}/{name}/*"), "AddTags");
            b.out
        }
        "CreateTargetGroup" => {
            let name = p.get("Name").unwrap_or_default();
            let mut b = Build::new("elasticloadbalancing", action, request_tags);
            b.create(format!("{prefix}targetgroup/{name}/*"), "AddTags");
            b.out
        }
        "CreateListener" | "CreateRule" => {
            let (parent, from, to) = if action == "CreateListener" {
                (p.get("LoadBalancerArn"), ":loadbalancer/", ":listener/")
            } else {
                (p.get("ListenerArn"), ":listener/", ":listener-rule/")
            };
            let mut b = Build::new("elasticloadbalancing", action, request_tags);
            if let Some(parent) = parent.filter(|a| cloud.elbv2.resource_tags(a).is_some()) {
                b.create(format!("{}/*", parent.replacen(from, to, 1)), "AddTags");
            }
            b.out
        }
        "AddTags" | "RemoveTags" => {
            let tags = if action == "AddTags" {
                request_tags
            } else {
                p.list("TagKeys.member")
                    .into_iter()
                    .map(|k| (k.to_string(), String::new()))
                    .collect()
            };
            let mut b = Build::new("elasticloadbalancing", action, Tags::new());
            // RemoveTags names keys only: `aws:TagKeys`, no `aws:RequestTag`.
            if action == "AddTags" {
                b.request_tags = tags.clone();
            }
            for arn in p.list("ResourceArns.member") {
                existing(&mut b, Some(arn));
            }
            if action == "RemoveTags" && !tags.is_empty() {
                for r in &mut b.out {
                    r.set("aws:TagKeys", tags.keys().cloned());
                }
            }
            b.out
        }
        "SetRulePriorities" => {
            let mut b = Build::new("elasticloadbalancing", action, Tags::new());
            for rp in p.structs("RulePriorities.member") {
                existing(&mut b, rp.get("RuleArn"));
            }
            b.out
        }
        other => {
            let mut b = Build::new("elasticloadbalancing", other, Tags::new());
            let named = [
                "LoadBalancerArn",
                "TargetGroupArn",
                "ListenerArn",
                "RuleArn",
            ]
            .iter()
            .find_map(|k| p.get(k));
            match named {
                Some(arn) => existing(&mut b, Some(arn)),
                None => b.on("*".into(), None),
            }
            b.out
        }
    }
}
