//! The instance-type table: how many network interfaces a type takes and how many IPv4
//! addresses (or /28 prefixes) each interface holds.
//!
//! The numbers come from AWS's `DescribeInstanceTypes` as recorded in the Amazon VPC CNI's
//! generated table (`aws/amazon-vpc-cni-k8s`, `pkg/vpc/vpc_ip_resource_limit.go`: `ENILimit`,
//! `IPv4Limit`, `HypervisorType`), which also backs its `misc/eni-max-pods.txt`
//! (max pods = ENIs x (IPv4 per ENI - 1) + 2, e.g. m5.large 3 x (10 - 1) + 2 = 29). Every type
//! here is on the Nitro system, so each supports prefix delegation and IPv6 addresses up to its
//! IPv4 limit per interface.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeInfo {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub max_enis: u32,
    pub ipv4_per_eni: u32,
    pub ipv6_per_eni: u32,
    /// `nitro` or `xen`; /28 prefix delegation needs Nitro.
    pub hypervisor: String,
    #[serde(default)]
    pub bare_metal: bool,
    pub network_performance: String,
}

impl InstanceTypeInfo {
    pub fn supports_prefixes(&self) -> bool {
        self.hypervisor == "nitro" || self.bare_metal
    }
}

/// (name, vCPUs, memory MiB, ENIs, IPv4 per ENI, network performance)
const TABLE: &[(&str, u32, u64, u32, u32, &str)] = &[
    ("m5.large", 2, 8192, 3, 10, "Up to 10 Gigabit"),
    ("m5.xlarge", 4, 16384, 4, 15, "Up to 10 Gigabit"),
    ("m5.2xlarge", 8, 32768, 4, 15, "Up to 10 Gigabit"),
    ("m5.4xlarge", 16, 65536, 8, 30, "Up to 10 Gigabit"),
    ("c5.large", 2, 4096, 3, 10, "Up to 10 Gigabit"),
    ("c5.xlarge", 4, 8192, 4, 15, "Up to 10 Gigabit"),
    ("c5.2xlarge", 8, 16384, 4, 15, "Up to 10 Gigabit"),
    ("c5.4xlarge", 16, 32768, 8, 30, "Up to 10 Gigabit"),
    ("r5.large", 2, 16384, 3, 10, "Up to 10 Gigabit"),
    ("r5.xlarge", 4, 32768, 4, 15, "Up to 10 Gigabit"),
    ("r5.2xlarge", 8, 65536, 4, 15, "Up to 10 Gigabit"),
    ("r5.4xlarge", 16, 131072, 8, 30, "Up to 10 Gigabit"),
    ("t3.nano", 2, 512, 2, 2, "Up to 5 Gigabit"),
    ("t3.micro", 2, 1024, 2, 2, "Up to 5 Gigabit"),
    ("t3.small", 2, 2048, 3, 4, "Up to 5 Gigabit"),
    ("t3.medium", 2, 4096, 3, 6, "Up to 5 Gigabit"),
    ("t3.large", 2, 8192, 3, 12, "Up to 5 Gigabit"),
    ("t3.xlarge", 4, 16384, 4, 15, "Up to 5 Gigabit"),
    ("t3.2xlarge", 8, 32768, 4, 15, "Up to 5 Gigabit"),
];

/// The built-in table (t3 stops at 2xlarge: there is no t3.4xlarge).
pub fn builtin() -> Vec<InstanceTypeInfo> {
    TABLE
        .iter()
        .map(
            |&(name, vcpus, memory_mib, max_enis, ipv4, perf)| InstanceTypeInfo {
                name: name.to_string(),
                vcpus,
                memory_mib,
                max_enis,
                ipv4_per_eni: ipv4,
                ipv6_per_eni: ipv4,
                hypervisor: "nitro".to_string(),
                bare_metal: false,
                network_performance: perf.to_string(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m5_large_is_three_enis_of_ten_addresses() {
        let t = builtin();
        let m5 = t.iter().find(|t| t.name == "m5.large").unwrap();
        assert_eq!((m5.max_enis, m5.ipv4_per_eni), (3, 10));
        // eni-max-pods.txt: m5.large 29, m5.4xlarge 234, t3.large 35.
        let max_pods = |n: &str| {
            let t = t.iter().find(|t| t.name == n).unwrap();
            t.max_enis * (t.ipv4_per_eni - 1) + 2
        };
        assert_eq!(max_pods("m5.large"), 29);
        assert_eq!(max_pods("m5.4xlarge"), 234);
        assert_eq!(max_pods("t3.large"), 35);
        assert!(m5.supports_prefixes());
    }
}
