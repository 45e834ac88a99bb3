//! Availability zones and `DescribeAvailabilityZones`, and `DescribeInstanceTypes`.

use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::{Ec2State, InstanceTypeInfo, Tags};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    pub name: String,
    /// AWS's zone id, e.g. `usw2-az1`.
    pub zone_id: String,
}

impl Zone {
    /// Zone ids the way AWS spells them for a region: `us-west-2` -> `usw2-az1`, ...
    pub fn for_region(region: &str, names: &[String]) -> Vec<Zone> {
        let parts: Vec<&str> = region.split('-').collect();
        let short = match parts[..] {
            [a, b, n] => {
                let dir = match b {
                    "west" => "w",
                    "east" => "e",
                    "north" => "n",
                    "south" => "s",
                    "central" => "c",
                    "northeast" => "ne",
                    "southeast" => "se",
                    "northwest" => "nw",
                    "southwest" => "sw",
                    other => other,
                };
                format!("{a}{dir}{n}")
            }
            _ => region.replace('-', ""),
        };
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Zone {
                name: n.clone(),
                zone_id: format!("{short}-az{}", i + 1),
            })
            .collect()
    }
}

struct ZoneRow<'a>(&'a Zone, &'a str);

impl Filterable for ZoneRow<'_> {
    fn filter_values(&self, name: &str) -> Vec<String> {
        match name {
            "zone-name" => vec![self.0.name.clone()],
            "zone-id" => vec![self.0.zone_id.clone()],
            "region-name" => vec![self.1.to_string()],
            "state" => vec!["available".into()],
            "zone-type" => vec!["availability-zone".into()],
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        static EMPTY: Tags = Tags::new();
        &EMPTY
    }
}

impl Filterable for InstanceTypeInfo {
    fn filter_values(&self, name: &str) -> Vec<String> {
        match name {
            "instance-type" => vec![self.name.clone()],
            "hypervisor" => vec![self.hypervisor.clone()],
            "bare-metal" => vec![self.bare_metal.to_string()],
            "network-info.maximum-network-interfaces" => vec![self.max_enis.to_string()],
            "network-info.ipv4-addresses-per-interface" => vec![self.ipv4_per_eni.to_string()],
            "current-generation" => vec!["true".into()],
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        static EMPTY: Tags = Tags::new();
        &EMPTY
    }
}

impl Ec2State {
    pub(super) fn describe_availability_zones(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &["zone-name", "zone-id", "region-name", "state", "zone-type"],
        )?;
        let names = p.list("ZoneName");
        let ids = p.list("ZoneId");
        for n in names.iter().chain(ids.iter()) {
            if !self.zones.iter().any(|z| &z.name == n || &z.zone_id == n) {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Invalid availability zone: [{n}]"
                )));
            }
        }
        let region = self.region.clone();
        x.list(
            "availabilityZoneInfo",
            "item",
            self.zones.iter().filter(|z| {
                (names.is_empty() && ids.is_empty()
                    || names.contains(&z.name.as_str())
                    || ids.contains(&z.zone_id.as_str()))
                    && describe::matches(&ZoneRow(z, &region), &filters)
            }),
            |x, z| {
                x.leaf("zoneName", &z.name)
                    .leaf("zoneState", "available")
                    .leaf("regionName", &region)
                    .leaf("zoneId", &z.zone_id)
                    .leaf("zoneType", "availability-zone")
                    .leaf("groupName", &region)
                    .leaf("networkBorderGroup", &region)
                    .leaf("optInStatus", "opt-in-not-required")
                    .elem("messageSet", |_| {});
            },
        );
        Ok(())
    }

    pub(super) fn describe_instance_types(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &[
                "instance-type",
                "hypervisor",
                "bare-metal",
                "current-generation",
                "network-info.maximum-network-interfaces",
                "network-info.ipv4-addresses-per-interface",
            ],
        )?;
        let wanted = p.list("InstanceType");
        for w in &wanted {
            if !self.instance_types.contains_key(*w) {
                return Err(AwsError::invalid_parameter_value(format!(
                    "The following supplied instance types do not exist: [{w}]"
                )));
            }
        }
        let items: Vec<&InstanceTypeInfo> = self
            .instance_types
            .values()
            .filter(|t| wanted.is_empty() || wanted.contains(&t.name.as_str()))
            .filter(|t| describe::matches(*t, &filters))
            .collect();
        // DescribeInstanceTypes allows MaxResults with InstanceType.N, unlike most.
        let page = describe::paginate(items, p, 100, false, |t| t.name.as_str())?;
        x.list("instanceTypeSet", "item", &page.items, |x, t| {
            x.leaf("instanceType", &t.name)
                .leaf("currentGeneration", true)
                .leaf("freeTierEligible", false)
                .leaf("bareMetal", t.bare_metal)
                .leaf("hypervisor", &t.hypervisor)
                .elem("supportedUsageClasses", |x| {
                    x.leaf("item", "on-demand");
                })
                .elem("vCpuInfo", |x| {
                    x.leaf("defaultVCpus", t.vcpus);
                })
                .elem("memoryInfo", |x| {
                    x.leaf("sizeInMiB", t.memory_mib);
                })
                .elem("processorInfo", |x| {
                    x.elem("supportedArchitectures", |x| {
                        x.leaf("item", "x86_64");
                    });
                })
                .elem("networkInfo", |x| {
                    x.leaf("networkPerformance", &t.network_performance)
                        .leaf("maximumNetworkInterfaces", t.max_enis)
                        .leaf("maximumNetworkCards", 1)
                        .leaf("defaultNetworkCardIndex", 0)
                        .list("networkCards", "item", [t], |x, t| {
                            x.leaf("networkCardIndex", 0)
                                .leaf("networkPerformance", &t.network_performance)
                                .leaf("maximumNetworkInterfaces", t.max_enis);
                        })
                        .leaf("ipv4AddressesPerInterface", t.ipv4_per_eni)
                        .leaf("ipv6AddressesPerInterface", t.ipv6_per_eni)
                        .leaf("ipv6Supported", true)
                        .leaf("enaSupport", "required")
                        .leaf("efaSupported", false)
                        .leaf("encryptionInTransitSupported", false)
                        .leaf("enaSrdSupported", false);
                });
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}
