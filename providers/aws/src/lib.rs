//! cloudnet-aws: the AWS backend of cloudnet, on `aws-sdk-ec2` and
//! `aws-sdk-elasticloadbalancingv2`.

pub mod addresses;
pub mod call;
pub mod config;
pub mod error;
pub mod lb;
pub mod metrics;
pub mod ops;
pub mod provider;
pub mod routes;

pub use config::{AwsConfig, InstanceIdentity, RouteTableSelector};
pub use error::ConfigError;
pub use metrics::{AwsMetrics, CallTotals};
pub use ops::AwsOp;
pub use provider::AwsProvider;
