//! What the ELBv2 suites share: a mock cloud with an ELBv2 configuration, an SDK client
//! pointed at it, and builders for the SDK's request types.

#![allow(dead_code, unused_imports)]

pub use std::time::Duration;

pub use aws_config::BehaviorVersion;
pub use aws_config::retry::RetryConfig;
pub use aws_credential_types::Credentials;
pub use aws_sdk_elasticloadbalancingv2 as elb;
pub use cloudnet_mockcloud::World;
pub use cloudnet_mockcloud::faults::{FaultKind, FaultRule, Trigger};
pub use cloudnet_mockcloud::server::{Config, Handle, MockCloud};
pub use elb::error::{ProvideErrorMetadata, SdkError};
pub use elb::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    PathPatternConditionConfig, ProtocolEnum, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, RulePriorityPair,
    SourceIpConditionConfig, Tag, TargetDescription, TargetGroupAttribute, TargetGroupTuple,
    TargetTypeEnum,
};

pub const VPC: &str = "vpc-0c10d0e7000000001";
pub const SUBNET_A: &str = "subnet-0c10d0e70000000a1";
pub const SUBNET_B: &str = "subnet-0c10d0e70000000b1";
pub const SUBNET_C: &str = "subnet-0c10d0e70000000c1";
pub const SG: &str = "sg-0c10d0e7000000001";
pub const INSTANCE: &str = "i-0c10d0e7000000001";
pub const CERT: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/0f4e0a52-1111-2222-3333-444455556666";

pub struct Mock {
    pub handle: Handle,
    pub client: elb::Client,
}

/// The default world with fast health checks (300 ms) and the given extra `elbv2:` settings.
pub async fn start(elbv2_yaml: &str) -> Mock {
    let mut world = World::default();
    let yaml = format!("health_check_delay_ms: 300\n{elbv2_yaml}");
    world.elbv2 = Some(serde_yaml::from_str(&yaml).expect("elbv2 settings"));
    let handle = MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts");
    let client = client(&handle, 3).await;
    Mock { handle, client }
}

pub async fn client(handle: &Handle, attempts: u32) -> elb::Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDMOCK", "secret", None, None, "test"))
        .endpoint_url(handle.endpoint_url())
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .load()
        .await;
    elb::Client::new(&conf)
}

/// The error code of a failed call (panics when it succeeded).
pub fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, SdkError<E, R>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("<no code>").to_string(),
    }
}

pub fn forward(tg: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

pub fn path(p: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values(p).build())
        .build()
}

pub fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

pub fn target(id: &str) -> TargetDescription {
    TargetDescription::builder().id(id).build()
}

/// An ARN the cloud answered with, or "" when it left it out.
fn arn(answered: Option<&str>) -> String {
    answered.unwrap_or_default().to_string()
}

impl Mock {
    pub async fn alb(&self, name: &str) -> String {
        let create = self.client.create_load_balancer().name(name);
        let create = create
            .subnets(SUBNET_A)
            .subnets(SUBNET_B)
            .security_groups(SG);
        let out = create.send().await.expect("create ALB");
        arn(out.load_balancers()[0].load_balancer_arn())
    }

    pub async fn nlb(&self, name: &str) -> String {
        let create = self.client.create_load_balancer().name(name);
        let create = create
            .r#type(LoadBalancerTypeEnum::Network)
            .subnets(SUBNET_C);
        let out = create.send().await.expect("create NLB");
        arn(out.load_balancers()[0].load_balancer_arn())
    }

    /// An `ip` target group on port 8080.
    pub async fn tg(&self, name: &str, protocol: ProtocolEnum) -> String {
        self.tg_of(name, protocol, 8080, TargetTypeEnum::Ip).await
    }

    pub async fn tg_of(
        &self,
        name: &str,
        protocol: ProtocolEnum,
        port: i32,
        kind: TargetTypeEnum,
    ) -> String {
        let create = self.client.create_target_group().name(name).vpc_id(VPC);
        let create = create.protocol(protocol).port(port).target_type(kind);
        let out = create.send().await.expect("create target group");
        arn(out.target_groups()[0].target_group_arn())
    }

    pub async fn listener(&self, lb: &str, protocol: ProtocolEnum, port: i32, tg: &str) -> String {
        let create = self.client.create_listener().load_balancer_arn(lb);
        let create = create
            .protocol(protocol)
            .port(port)
            .default_actions(forward(tg));
        let out = create.send().await.expect("create listener");
        arn(out.listeners()[0].listener_arn())
    }

    pub async fn states(&self, tg: &str) -> Vec<(String, String, String)> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .expect("describe target health");
        let mut v: Vec<(String, String, String)> = out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let h = d.target_health();
                (
                    d.target()
                        .and_then(|t| t.id())
                        .unwrap_or_default()
                        .to_string(),
                    h.and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    h.and_then(|h| h.reason())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    }
}
