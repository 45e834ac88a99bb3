//! The fixed set of AWS operations the provider calls: metric labels and budget classes.

use cloudnet_core::{Op, OpClass, Service};

macro_rules! ops {
    ($($name:ident => $service:ident / $class:ident),* $(,)?) => {
        /// One AWS API operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AwsOp {
            $($name),*
        }

        impl AwsOp {
            pub const ALL: &'static [AwsOp] = &[$(AwsOp::$name),*];

            /// The API's own name (`DescribeInstances`): a bounded metric label.
            pub fn name(self) -> &'static str {
                match self {
                    $(AwsOp::$name => stringify!($name)),*
                }
            }

            /// The budget bucket the call draws from.
            pub fn budget_op(self) -> Op {
                match self {
                    $(AwsOp::$name => Op::new(Service::$service, OpClass::$class)),*
                }
            }
        }
    };
}

ops! {
    DescribeInstances => Compute / Describe,
    DescribeInstanceTypes => Compute / Describe,
    DescribeNetworkInterfaces => Compute / Describe,
    DescribeSubnets => Compute / Describe,
    DescribeSecurityGroups => Compute / Describe,
    DescribeRouteTables => Compute / Describe,
    DescribeVpcs => Compute / Describe,
    CreateNetworkInterface => Compute / Mutate,
    AttachNetworkInterface => Compute / Mutate,
    DetachNetworkInterface => Compute / Mutate,
    DeleteNetworkInterface => Compute / Mutate,
    ModifyNetworkInterfaceAttribute => Compute / Mutate,
    AssignPrivateIpAddresses => Compute / Mutate,
    UnassignPrivateIpAddresses => Compute / Mutate,
    CreateRoute => Compute / Mutate,
    ReplaceRoute => Compute / Mutate,
    DeleteRoute => Compute / Mutate,
    ModifyInstanceAttribute => Compute / Mutate,
    CreateSecurityGroup => Compute / Mutate,
    DeleteSecurityGroup => Compute / Mutate,
    AuthorizeSecurityGroupIngress => Compute / Mutate,
    RevokeSecurityGroupIngress => Compute / Mutate,
    CreateTags => Compute / Mutate,
    DeleteTags => Compute / Mutate,
    DescribeLoadBalancers => LoadBalancing / Describe,
    DescribeLoadBalancerAttributes => LoadBalancing / Describe,
    DescribeTargetGroups => LoadBalancing / Describe,
    DescribeTargetGroupAttributes => LoadBalancing / Describe,
    DescribeTargetHealth => LoadBalancing / Describe,
    DescribeListeners => LoadBalancing / Describe,
    DescribeRules => LoadBalancing / Describe,
    DescribeTags => LoadBalancing / Describe,
    CreateLoadBalancer => LoadBalancing / Mutate,
    DeleteLoadBalancer => LoadBalancing / Mutate,
    ModifyLoadBalancerAttributes => LoadBalancing / Mutate,
    SetSecurityGroups => LoadBalancing / Mutate,
    SetSubnets => LoadBalancing / Mutate,
    SetIpAddressType => LoadBalancing / Mutate,
    CreateTargetGroup => LoadBalancing / Mutate,
    ModifyTargetGroup => LoadBalancing / Mutate,
    DeleteTargetGroup => LoadBalancing / Mutate,
    ModifyTargetGroupAttributes => LoadBalancing / Mutate,
    CreateListener => LoadBalancing / Mutate,
    ModifyListener => LoadBalancing / Mutate,
    DeleteListener => LoadBalancing / Mutate,
    CreateRule => LoadBalancing / Mutate,
    ModifyRule => LoadBalancing / Mutate,
    DeleteRule => LoadBalancing / Mutate,
    AddTags => LoadBalancing / Mutate,
    RemoveTags => LoadBalancing / Mutate,
    RegisterTargets => LoadBalancing / Targets,
    DeregisterTargets => LoadBalancing / Targets,
}

impl AwsOp {
    /// True for calls that change the cloud.
    pub fn is_mutating(self) -> bool {
        self.budget_op().class != OpClass::Describe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_verb() {
        for op in AwsOp::ALL {
            let read = op.name().starts_with("Describe");
            assert_eq!(!read, op.is_mutating(), "{}", op.name());
        }
        assert_eq!(AwsOp::RegisterTargets.budget_op().class, OpClass::Targets);
        assert_eq!(AwsOp::CreateRoute.budget_op().service, Service::Compute);
    }
}
