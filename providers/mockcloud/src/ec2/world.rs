//! The world file: the cloud a server starts with (and returns to on reset).
//!
//! ```yaml
//! region: us-west-2
//! availability_zones: [us-west-2a, us-west-2b, us-west-2c]
//! vpcs:
//!   - id: vpc-0c10d0e7000000001          # optional; generated when absent
//!     cidr_blocks: [192.168.0.0/16]
//!     tags: {Name: cloudnet}
//!     subnets:
//!       - id: subnet-0c10d0e70000000a1
//!         cidr: 192.168.0.0/19
//!         availability_zone: us-west-2a
//!         tags: {kubernetes.io/role/elb: "1"}
//!     security_groups:
//!       - {id: sg-0c10d0e7000000001, name: cloudnet-nodes, description: nodes}
//! instances:
//!   - {id: i-0c10d0e7000000001, instance_type: m5.large, subnet: subnet-0c10d0e70000000b1}
//! instance_types: []       # extra or overriding rows for the built-in table
//! timing: {instance_boot_ms: 0, instance_shutdown_ms: 0}
//! faults: []               # see crate::faults
//! ```
//!
//! `subnet` and `security_groups` of an instance accept ids or `Name` tags.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::faults::FaultRule;
use crate::ids::IdGen;

use super::instance_types::{self, InstanceTypeInfo};
use super::instances::Launch;
use super::{Ctx, Ec2State, Tags, Zone};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    pub region: String,
    #[serde(default = "default_account")]
    pub account_id: String,
    pub availability_zones: Vec<String>,
    #[serde(default)]
    pub vpcs: Vec<VpcSpec>,
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    #[serde(default)]
    pub instance_types: Vec<InstanceTypeInfo>,
    #[serde(default)]
    pub timing: Timing,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Settings of the ELBv2 service (health-check delay, provisioning delay, quotas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elbv2: Option<crate::elbv2::Elbv2Config>,
    /// Access keys, roles, their policies and instance roles; everything is allowed when
    /// absent (see [`crate::iam::config`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<crate::iam::IamSpec>,
    /// The GCP project (Compute Engine); the built-in GKE-like one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<crate::gcp::GcpWorld>,
    /// The Azure subscription (Network, Compute); the built-in AKS-like one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<crate::azure::AzureWorld>,
}

fn default_account() -> String {
    "123456789012".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub cidr_blocks: Vec<Ipv4Net>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default)]
    pub subnets: Vec<SubnetSpec>,
    #[serde(default)]
    pub security_groups: Vec<SecurityGroupSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub instance_type: String,
    /// A subnet id or `Name` tag.
    pub subnet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<Ipv4Addr>,
    /// Security group ids or names; the VPC's `default` group when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default = "default_image")]
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

fn default_image() -> String {
    "ami-0c10d0e7000000001".to_string()
}

/// How long the cloud takes to do things by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// pending -> running.
    pub instance_boot_ms: u64,
    /// shutting-down -> terminated.
    pub instance_shutdown_ms: u64,
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for World {
    /// us-west-2 with one VPC (192.168.0.0/16), a public and a private /19 in each of three
    /// zones, a node security group and two m5.large instances in private subnets.
    fn default() -> World {
        let zones = ["us-west-2a", "us-west-2b", "us-west-2c"];
        let mut subnets = Vec::new();
        for (i, z) in zones.iter().enumerate() {
            let letter = &z[z.len() - 1..];
            subnets.push(SubnetSpec {
                id: Some(format!("subnet-0c10d0e70000000{letter}1")),
                cidr: Ipv4Net::new(Ipv4Addr::new(192, 168, (i as u8) * 32, 0), 19)
                    .unwrap_or_default(),
                availability_zone: z.to_string(),
                tags: tags(&[
                    ("Name", &format!("cloudnet-public-{z}")),
                    ("kubernetes.io/role/elb", "1"),
                ]),
            });
        }
        for (i, z) in zones.iter().enumerate() {
            let letter = &z[z.len() - 1..];
            subnets.push(SubnetSpec {
                id: Some(format!("subnet-0c10d0e70000000{letter}2")),
                cidr: Ipv4Net::new(Ipv4Addr::new(192, 168, 96 + (i as u8) * 32, 0), 19)
                    .unwrap_or_default(),
                availability_zone: z.to_string(),
                tags: tags(&[
                    ("Name", &format!("cloudnet-private-{z}")),
                    ("kubernetes.io/role/internal-elb", "1"),
                ]),
            });
        }
        World {
            region: "us-west-2".into(),
            account_id: default_account(),
            availability_zones: zones.iter().map(|z| z.to_string()).collect(),
            vpcs: vec![VpcSpec {
                id: Some("vpc-0c10d0e7000000001".into()),
                cidr_blocks: vec![
                    Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap_or_default(),
                ],
                tags: tags(&[("Name", "cloudnet")]),
                subnets,
                security_groups: vec![SecurityGroupSpec {
                    id: Some("sg-0c10d0e7000000001".into()),
                    name: "cloudnet-nodes".into(),
                    description: "cloudnet nodes".into(),
                    tags: tags(&[("Name", "cloudnet-nodes")]),
                }],
            }],
            instances: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, z)| InstanceSpec {
                    id: Some(format!("i-0c10d0e700000000{}", i + 1)),
                    instance_type: "m5.large".into(),
                    subnet: format!("subnet-0c10d0e70000000{z}2"),
                    private_ip: None,
                    security_groups: vec!["sg-0c10d0e7000000001".into()],
                    image_id: default_image(),
                    tags: tags(&[("Name", &format!("cloudnet-node-{}", i + 1))]),
                })
                .collect(),
            instance_types: Vec::new(),
            timing: Timing::default(),
            faults: Vec::new(),
            elbv2: None,
            iam: None,
            gcp: None,
            azure: None,
        }
    }
}

impl World {
    /// Parses a world given as text (named `<world>` in errors).
    pub fn from_yaml(s: &str) -> Result<World> {
        World::from_yaml_named(s, "<world>")
    }

    /// Parses a world; errors name `file`, the line and, for an unknown key, the key.
    pub fn from_yaml_named(s: &str, file: &str) -> Result<World> {
        serde_yaml::from_str(s).map_err(|e| Error::yaml(file, &e))
    }

    pub fn load(path: &std::path::Path) -> Result<World> {
        let s = std::fs::read_to_string(path).map_err(|source| Error::ReadWorld {
            path: path.to_path_buf(),
            source,
        })?;
        let mut world = World::from_yaml_named(&s, &path.display().to_string())?;
        if let Some(iam) = &mut world.iam {
            iam.base_dir = path.parent().map(std::path::Path::to_path_buf);
        }
        let dir = path.parent().map(std::path::Path::to_path_buf);
        if let Some(spec) = world.gcp.as_mut().and_then(|g| g.iam.as_mut()) {
            spec.base_dir = dir.clone();
        }
        if let Some(spec) = world.azure.as_mut().and_then(|a| a.rbac.as_mut()) {
            spec.base_dir = dir;
        }
        Ok(world)
    }
}

impl Ec2State {
    /// Builds the EC2 state a world describes; `wall_epoch` is the wall-clock time of the
    /// cloud's moment zero.
    pub fn from_world(w: &World, wall_epoch: SystemTime) -> Result<Ec2State> {
        let invalid = |what: String| Error::InvalidWorld(what);
        let mut instance_types: BTreeMap<String, InstanceTypeInfo> = instance_types::builtin()
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        for t in &w.instance_types {
            instance_types.insert(t.name.clone(), t.clone());
        }
        let mut s = Ec2State {
            region: w.region.clone(),
            account_id: w.account_id.clone(),
            zones: Zone::for_region(&w.region, &w.availability_zones),
            timing: w.timing.clone(),
            instance_types,
            vpcs: BTreeMap::new(),
            subnets: BTreeMap::new(),
            security_groups: BTreeMap::new(),
            route_tables: BTreeMap::new(),
            instances: BTreeMap::new(),
            network_interfaces: BTreeMap::new(),
            ids: IdGen::default(),
            wall_epoch,
        };
        for v in &w.vpcs {
            for c in &v.cidr_blocks {
                super::vpcs::parse_block(&c.to_string())
                    .map_err(|e| invalid(format!("VPC CIDR {c}: {}", e.message)))?;
            }
            let vpc_id = s.insert_vpc(v.id.clone(), v.cidr_blocks.clone(), v.tags.clone());
            for sn in &v.subnets {
                s.insert_subnet(
                    sn.id.clone(),
                    &vpc_id,
                    sn.cidr,
                    &sn.availability_zone,
                    sn.tags.clone(),
                )
                .map_err(|e| invalid(format!("subnet {}: {}", sn.cidr, e.message)))?;
            }
            for g in &v.security_groups {
                s.insert_security_group(
                    g.id.clone(),
                    &vpc_id,
                    &g.name,
                    &g.description,
                    g.tags.clone(),
                );
            }
        }
        for i in &w.instances {
            s.launch_spec(i, 0)?;
        }
        Ok(s)
    }

    /// Launches an instance described as in a world file (also `POST /_mockcloud/instances`).
    pub fn launch_spec(&mut self, i: &InstanceSpec, now_ms: u64) -> Result<String> {
        let invalid = |what: String| Error::InvalidWorld(what);
        let subnet_id = self
            .resolve(&i.subnet, |s| {
                s.subnets
                    .values()
                    .map(|x| (x.id.as_str(), &x.tags, x.id.as_str()))
                    .collect()
            })
            .ok_or_else(|| invalid(format!("subnet '{}' does not exist", i.subnet)))?;
        let mut groups = Vec::new();
        for g in &i.security_groups {
            let id = self
                .security_groups
                .values()
                .find(|x| &x.id == g || &x.name == g)
                .map(|x| x.id.clone())
                .ok_or_else(|| invalid(format!("security group '{g}' does not exist")))?;
            groups.push(id);
        }
        self.launch(
            Launch {
                id: i.id.clone(),
                instance_type: i.instance_type.clone(),
                image_id: i.image_id.clone(),
                subnet_id,
                private_ip: i.private_ip,
                groups,
                tags: i.tags.clone(),
                eni_tags: Tags::new(),
                reservation_id: None,
            },
            &Ctx { now_ms, hide_ms: 0 },
        )
        .map_err(|e| invalid(format!("instance {:?}: {}", i.id, e.message)))
    }

    /// An id given as itself or as a `Name` tag.
    fn resolve(
        &self,
        key: &str,
        rows: impl Fn(&Ec2State) -> Vec<(&str, &Tags, &str)>,
    ) -> Option<String> {
        rows(self)
            .into_iter()
            .find(|(id, tags, _)| *id == key || tags.get("Name").map(String::as_str) == Some(key))
            .map(|(_, _, id)| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_world_file_is_the_built_in_default() {
        let file = include_str!("../../worlds/default.yaml");
        assert_eq!(World::from_yaml(file).unwrap(), World::default());
    }

    #[test]
    fn the_default_world_builds() {
        let s = Ec2State::from_world(&World::default(), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(s.subnets.len(), 6);
        assert_eq!(s.instances.len(), 2);
        assert_eq!(s.network_interfaces.len(), 2);
        let eni = s.network_interfaces.values().next().unwrap();
        assert_eq!(eni.attachment.as_ref().unwrap().device_index, 0);
    }

    #[test]
    fn unknown_fields_and_bad_references_are_refused() {
        assert!(World::from_yaml("region: x\navailability_zones: []\nbogus: 1\n").is_err());
        let mut w = World::default();
        w.instances[0].subnet = "nope".into();
        assert!(Ec2State::from_world(&w, SystemTime::UNIX_EPOCH).is_err());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_file_and_line() {
        let text = "region: us-west-2\navailability_zones: [us-west-2a]\nvpcs:\n  - cidr_blocks: [10.0.0.0/16]\n    subnetz: []\n";
        let e = World::from_yaml_named(text, "worlds/bad.yaml").unwrap_err();
        assert_eq!(e.unknown_key(), Some("subnetz"), "{e}");
        let Error::Config { file, line, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(file, "worlds/bad.yaml");
        assert_eq!(*line, Some(5), "{e}");
        assert!(e.to_string().starts_with("worlds/bad.yaml:5:"), "{e}");
    }

    #[test]
    fn a_misspelled_fault_key_in_a_world_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("mockcloud-world-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("faulty.yaml");
        std::fs::write(
            &path,
            "region: us-west-2\navailability_zones: [us-west-2a]\nfaults:\n  - kind: drop\n    trigerr: once\n",
        )
        .unwrap();
        let e = World::load(&path).unwrap_err();
        assert_eq!(e.unknown_key(), Some("trigerr"), "{e}");
        assert!(
            e.to_string().starts_with(&format!("{}:", path.display())),
            "{e}"
        );
        let Error::Config { line, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(line, Some(4 | 5)), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
