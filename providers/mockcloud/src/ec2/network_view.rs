//! What ELBv2 sees of the EC2 network.

use ipnet::Ipv4Net;

use crate::elbv2::{InstanceInfo, NetworkView, SubnetInfo};

use super::{Ec2State, InstanceState};

impl NetworkView for Ec2State {
    fn subnet(&self, id: &str) -> Option<SubnetInfo> {
        self.subnets.get(id).map(|s| SubnetInfo {
            vpc_id: s.vpc_id.clone(),
            availability_zone: s.availability_zone.clone(),
            cidr: s.cidr,
        })
    }

    fn security_group_vpc(&self, id: &str) -> Option<String> {
        self.security_groups.get(id).map(|g| g.vpc_id.clone())
    }

    fn vpc_cidrs(&self, vpc_id: &str) -> Vec<Ipv4Net> {
        self.vpcs
            .get(vpc_id)
            .map(|v| v.cidr_blocks.clone())
            .unwrap_or_default()
    }

    fn instance(&self, id: &str) -> Option<InstanceInfo> {
        self.instances.get(id).map(|i| InstanceInfo {
            vpc_id: i.vpc_id.clone(),
            running: i.state == InstanceState::Running,
        })
    }
}
