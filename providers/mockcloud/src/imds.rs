//! The EC2 instance metadata service, IMDSv2 only: `PUT /latest/api/token` with
//! `X-aws-ec2-metadata-token-ttl-seconds` (1..=21600) gives a token; every `GET` must carry
//! it in `X-aws-ec2-metadata-token` or gets 401.
//!
//! One server answers for all its instances. A request is for the instance named by the
//! `X-Mockcloud-Instance-Id` header, or by the path prefix
//! `/_mockcloud/imds/<instance-id>/latest/...` (for clients that cannot add headers, such as
//! the AWS SDKs' IMDS clients pointed at that prefix as their endpoint); without either it
//! is for the oldest instance that is not terminated.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cloud::Cloud;
use crate::ec2::{Instance, InstanceState};
use crate::wire::{Received, Resp, Shared, respond};

pub const INSTANCE_HEADER: &str = "x-mockcloud-instance-id";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The role whose (fake) credentials the metadata service hands out when the world has no
/// `iam` section.
pub const ROLE: &str = "cloudnet-node";

fn text(status: u16, body: impl Into<String>) -> Resp {
    respond(status, "text/plain", body.into())
}

pub(crate) fn handle(shared: &Shared, rx: &Received) -> Resp {
    // `/_mockcloud/imds/<id>/latest/...` or `/latest/...`
    let (instance_from_path, path) = match rx.path.strip_prefix("/_mockcloud/imds/") {
        Some(rest) => match rest.split_once('/') {
            Some((id, p)) => (Some(id.to_string()), format!("/{p}")),
            None => (Some(rest.to_string()), "/".to_string()),
        },
        None => (None, rx.path.clone()),
    };
    let header = |name: &str| rx.headers.get(name).and_then(|v| v.to_str().ok());
    let mut cloud = shared.lock();
    let now = Instant::now();
    if path == "/latest/api/token" {
        if rx.method != http::Method::PUT {
            return text(405, "Method Not Allowed");
        }
        let ttl = header(TTL_HEADER).and_then(|v| v.trim().parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return text(400, "Bad Request");
        };
        let token = format!("AQAE{}", cloud.ids.request_id().replace('-', ""));
        cloud.imds_tokens.retain(|_, exp| *exp > now);
        cloud
            .imds_tokens
            .insert(token.clone(), now + Duration::from_secs(ttl));
        let mut r = text(200, token);
        if let Ok(v) = http::HeaderValue::from_str(&ttl.to_string()) {
            r.headers_mut().insert(TTL_HEADER, v);
        }
        return r;
    }
    if rx.method != http::Method::GET {
        return text(405, "Method Not Allowed");
    }
    let valid = header(TOKEN_HEADER)
        .and_then(|t| cloud.imds_tokens.get(t))
        .is_some_and(|exp| *exp > now);
    if !valid {
        return text(401, "Unauthorized");
    }
    let now_ms = cloud.now_ms(now);
    cloud.ec2.advance(now_ms);
    let wanted = instance_from_path.or_else(|| header(INSTANCE_HEADER).map(str::to_string));
    let inst = match &wanted {
        Some(id) => cloud.ec2.instances.get(id),
        None => cloud
            .ec2
            .instances
            .values()
            .filter(|i| i.state != InstanceState::Terminated)
            .min_by_key(|i| (i.launch_time_ms, i.id.clone())),
    };
    let Some(inst) = inst
        .filter(|i| i.state != InstanceState::Terminated)
        .cloned()
    else {
        return text(404, "Not Found");
    };
    match lookup(&cloud, &inst, path.trim_start_matches('/'), now_ms) {
        Some(body) => text(200, body),
        None => text(404, "Not Found"),
    }
}

fn lines<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn lookup(cloud: &Cloud, inst: &Instance, path: &str, now_ms: u64) -> Option<String> {
    let ec2 = &cloud.ec2;
    let region = &ec2.region;
    // With IAM on, the instance's own role and the key that acts as it; without, a fixed
    // role whose key every call may use.
    let (role, access_key) = match &cloud.iam {
        Some(iam) => {
            let role = iam.instance_role(&inst.id)?;
            (role.to_string(), crate::iam::instance_key(role))
        }
        None => (ROLE.to_string(), "ASIAMOCKCLOUD0000000".to_string()),
    };
    let ip = inst.private_ip;
    let o = ip.octets();
    let hostname = format!(
        "ip-{}-{}-{}-{}.{region}.compute.internal",
        o[0], o[1], o[2], o[3]
    );
    let primary = ec2.network_interfaces.get(&inst.primary_eni);
    let enis: Vec<_> = {
        let mut v: Vec<_> = ec2
            .network_interfaces
            .values()
            .filter(|e| e.attached_to(&inst.id))
            .collect();
        v.sort_by_key(|e| e.attachment.as_ref().map(|a| a.device_index));
        v
    };
    let zone_id = ec2
        .zones
        .iter()
        .find(|z| z.name == inst.availability_zone)
        .map(|z| z.zone_id.clone())
        .unwrap_or_default();
    let p = path.trim_end_matches('/');
    let v = match p {
        "latest" => "api/\ndynamic/\nmeta-data/".to_string(),
        "latest/meta-data" => lines([
            "ami-id",
            "hostname",
            "iam/",
            "instance-id",
            "instance-type",
            "local-hostname",
            "local-ipv4",
            "mac",
            "network/",
            "placement/",
            "security-groups",
        ]),
        "latest/meta-data/ami-id" => inst.image_id.clone(),
        "latest/meta-data/instance-id" => inst.id.clone(),
        "latest/meta-data/instance-type" => inst.instance_type.clone(),
        "latest/meta-data/hostname" | "latest/meta-data/local-hostname" => hostname,
        "latest/meta-data/local-ipv4" => ip.to_string(),
        "latest/meta-data/mac" => primary?.mac.clone(),
        "latest/meta-data/security-groups" => lines(
            primary?
                .groups
                .iter()
                .filter_map(|g| ec2.security_groups.get(g).map(|g| g.name.clone())),
        ),
        "latest/meta-data/placement" => {
            "availability-zone\navailability-zone-id\nregion".to_string()
        }
        "latest/meta-data/placement/availability-zone" => inst.availability_zone.clone(),
        "latest/meta-data/placement/availability-zone-id" => zone_id,
        "latest/meta-data/placement/region" => region.clone(),
        "latest/meta-data/network" => "interfaces/".to_string(),
        "latest/meta-data/network/interfaces" => "macs/".to_string(),
        "latest/meta-data/network/interfaces/macs" => {
            lines(enis.iter().map(|e| format!("{}/", e.mac)))
        }
        "latest/meta-data/iam" => "info\nsecurity-credentials/".to_string(),
        "latest/meta-data/iam/info" => json!({
            "Code": "Success",
            "InstanceProfileArn": format!("arn:aws:iam::{}:instance-profile/{role}", ec2.account_id),
            "InstanceProfileId": "AIPAMOCKCLOUD0000000",
        })
        .to_string(),
        "latest/meta-data/iam/security-credentials" => role.to_string(),
        p if p == format!("latest/meta-data/iam/security-credentials/{role}") => json!({
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": access_key,
            "SecretAccessKey": "mockcloud-secret",
            "Token": "mockcloud-session-token",
            "LastUpdated": "2026-01-01T00:00:00Z",
            "Expiration": "2099-01-01T00:00:00Z",
        })
        .to_string(),
        "latest/dynamic" => "instance-identity/".to_string(),
        "latest/dynamic/instance-identity" => "document".to_string(),
        "latest/dynamic/instance-identity/document" => serde_json::to_string_pretty(&json!({
            "accountId": ec2.account_id,
            "architecture": "x86_64",
            "availabilityZone": inst.availability_zone,
            "imageId": inst.image_id,
            "instanceId": inst.id,
            "instanceType": inst.instance_type,
            "pendingTime": "2026-01-01T00:00:00Z",
            "privateIp": ip.to_string(),
            "region": region,
            "version": "2017-09-30",
        }))
        .ok()?,
        other => {
            let rest = other.strip_prefix("latest/meta-data/network/interfaces/macs/")?;
            let (mac, field) = rest.split_once('/').unwrap_or((rest, ""));
            let e = enis.iter().find(|e| e.mac == mac)?;
            let subnet = ec2.subnets.get(&e.subnet_id)?;
            let vpc = ec2.vpcs.get(&e.vpc_id)?;
            match field {
                "" => lines([
                    "device-number",
                    "interface-id",
                    "ipv4-prefix",
                    "local-hostname",
                    "local-ipv4s",
                    "mac",
                    "owner-id",
                    "security-group-ids",
                    "security-groups",
                    "subnet-id",
                    "subnet-ipv4-cidr-block",
                    "vpc-id",
                    "vpc-ipv4-cidr-block",
                    "vpc-ipv4-cidr-blocks",
                ]),
                "device-number" => e.attachment.as_ref()?.device_index.to_string(),
                "interface-id" => e.id.clone(),
                "mac" => e.mac.clone(),
                "owner-id" => ec2.account_id.clone(),
                "local-hostname" => hostname,
                "local-ipv4s" => lines(
                    e.private_ips
                        .iter()
                        .filter(|p| now_ms >= p.visible_at_ms)
                        .map(|p| p.address.to_string()),
                ),
                "ipv4-prefix" => {
                    let v: Vec<String> = e
                        .prefixes
                        .iter()
                        .filter(|p| now_ms >= p.visible_at_ms)
                        .map(|p| p.prefix.to_string())
                        .collect();
                    if v.is_empty() {
                        return None;
                    }
                    lines(v)
                }
                "security-group-ids" => lines(&e.groups),
                "security-groups" => lines(
                    e.groups
                        .iter()
                        .filter_map(|g| ec2.security_groups.get(g).map(|g| g.name.clone())),
                ),
                "subnet-id" => e.subnet_id.clone(),
                "subnet-ipv4-cidr-block" => subnet.cidr.to_string(),
                "vpc-id" => e.vpc_id.clone(),
                "vpc-ipv4-cidr-block" => vpc.cidr_blocks.first()?.to_string(),
                "vpc-ipv4-cidr-blocks" => lines(vpc.cidr_blocks.iter().map(|c| c.to_string())),
                _ => return None,
            }
        }
    };
    Some(v)
}
