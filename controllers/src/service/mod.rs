//! Services of `type: LoadBalancer` -> the provider-neutral L4 model (an NLB on AWS).
//!
//! ```text
//!  Service ──(annotations, model: pure)──> LoadBalancerSpec ──> LoadBalancers::ensure
//!  EndpointSlices, Nodes ──(targets: pure)──> group -> [Target] ──> LoadBalancers::sync_targets
//! ```
//!
//! - [`annotations`]: the AWS Load Balancer Controller's `service.beta.kubernetes.io/aws-load-balancer-*`
//!   annotations, parsed as it parses them; unknown or unsupported keys are errors.
//! - [`model`]: which Services are ours ([`model::is_served`]) and the spec
//!   ([`model::build_spec`]), with the anchor's defaults.
//! - [`targets`]: the members of each backend group.
//! - [`reconcile`]: the controller loop.
//! - [`gc`]: stacks of Services that are gone, deleted at start and periodically.
//!
//! A Service whose spec cannot be built gets a Warning Event and a condition with the
//! [`model::ModelError`] texts, and nothing changes in the cloud.

pub mod annotations;
pub mod gc;
pub mod model;
pub mod reconcile;
pub mod targets;

pub use model::{ModelError, ServiceSettings, build_spec, group_key, is_served, targets_nodes};
pub use targets::targets;

#[cfg(test)]
mod tests;
