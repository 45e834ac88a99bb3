//! cloudnet-aws: the AWS backend of cloudnet. It implements the core's
//! [`Addresses`](cloudnet_core::Addresses), [`Routes`](cloudnet_core::Routes) and
//! [`LoadBalancers`](cloudnet_core::LoadBalancers) on the official `aws-sdk-ec2` and
//! `aws-sdk-elasticloadbalancingv2`, so the controllers and the IPAM allocator never see an
//! AWS type.
//!
//! ```text
//!  LoadBalancerSpec ─ plan (pure) ─> DesiredStack ─┐
//!                                                  ├─ match (pure, per kind) ─> deploy (I/O)
//!  Describe* ─ convert (SDK -> plain structs) ─────┘
//!  every call: Caller::call ─ RateBudget ─ SDK (standard retry for transient errors) ─ AWS
//! ```
//!
//! # Setting up
//! [`AwsProvider::connect`] takes an [`AwsConfig`]: credentials come from `aws-config`'s
//! default chain (environment, IRSA web identity token file, profile/SSO, instance metadata);
//! region and VPC from the config or, like the AWS Load Balancer Controller, from instance
//! metadata (IMDSv2: `placement/region`, then the primary MAC's `vpc-id`); the endpoint from
//! `endpoint_url` or the SDK's own `AWS_ENDPOINT_URL` (the mock cloud, LocalStack). The
//! metadata endpoint can be given too (`imds_endpoint`); discovery and the default region and
//! credentials chains then all read it. [`AwsProvider::instance`] says what was discovered.
//!
//! # Resource mapping
//!
//! | core | AWS |
//! |---|---|
//! | node interface | ENI, created with `TagSpecifications`, attached at the lowest free device index, `DeleteOnTermination=true`; deleted again when the attach fails |
//! | address block | secondary private IP (/32) or delegated /28 prefix (Nitro types); one `AssignPrivateIpAddresses` fills as many free slots as asked |
//! | limits | `DescribeInstanceTypes` (max ENIs, IPv4 per ENI, Nitro = prefixes), cached per type |
//! | route | `CreateRoute`/`ReplaceRoute`/`DeleteRoute` with `InstanceId` or `NetworkInterfaceId`; source/dest check off once per target |
//! | L4 stack | NLB + one target group per referenced backend group + one listener per port |
//! | L7 stack | ALB + target groups + listeners + rules (host-header / path-pattern; forward with weights, redirect, fixed response) + a managed security group + a backend rule on the nodes' group |
//! | backend group | target group: `ip` targets for pod IPs, `instance` targets for node ports (node IP -> instance ID by `DescribeInstances`) |
//!
//! Planning is pure ([`lb::plan`]); actual state is read into plain structs in one module
//! ([`lb::convert`]); one pure function per resource kind matches them ([`lb::matching`]);
//! the deployer then creates, modifies and deletes in dependency order: security group,
//! backend rule, target groups, load balancer, attributes, listeners, rules, and last the
//! stale rules, listeners and target groups. `delete` goes the other way and treats
//! parts already gone as done.
//!
//! # Names and tags ([`cloudnet_core::ownership`])
//! Load balancers, target groups and managed security groups are named with
//! `derive_name(NameRules::Elbv2, owner, discriminators)`: kind and scheme for load
//! balancers, key, protocol, port and target type for target groups (what AWS cannot change
//! in place is in the hash, so a change there is a new resource and the old one is deleted).
//! Every resource carries `Owner::aws_tags()` (`cloudnet.io/cluster`, `cloudnet.io/owner-kind`,
//! `cloudnet.io/owner`, `kubernetes.io/cluster/<name>=owned`); target groups add
//! `cloudnet.io/resource=<group key>`, the security group `cloudnet.io/resource=security-group`,
//! interfaces `cloudnet.io/node=<instance>` and `cloudnet.io/created-at=<epoch seconds>`.
//!
//! Ownership is checked before every change: a load balancer, target group or security group
//! found under our name without our owner's tags is a `Conflict` and is left alone (never
//! adopted); interfaces without our cluster tag are refused (`NotOwned`). Listeners and rules
//! are ours by being on our load balancer. Routes carry no tags on AWS: a route is ours when
//! it is in one of the cluster's route tables (by ID, or tagged for the cluster) **and** its
//! destination is inside a configured cluster pod CIDR; others are listed, never changed.
//!
//! # The call budget
//! Every call goes through [`call::Caller::call`] with its operation ([`AwsOp`], a fixed set):
//! it waits for a token of the operation's bucket in the shared [`cloudnet_core::RateBudget`]
//! (compute/loadBalancing × describe/mutate/targets), reports success, and on a throttling
//! code (`RequestLimitExceeded`, `Throttling`, ...) halves the bucket's rate and pauses it for
//! the cloud's Retry-After before trying again through the budget. The SDK's standard retry
//! (exponential backoff with jitter) handles transient errors (5xx, timeouts); a retry
//! classifier ([`call::ThrottleClassifier`]) keeps it from retrying throttles on its own, so
//! all callers slow down together. Errors are mapped by code and HTTP status with
//! [`cloudnet_core::Error::from_aws`], never by message. [`AwsMetrics`] counts calls, errors by
//! kind, throttles and latency per operation.
//!
//! # Call counts of `ensure` (and the bench's minimum)
//! A new stack costs one `DescribeLoadBalancers` (by name), one `DescribeSecurityGroups` for
//! an ALB's managed group, then only mutations; subnets (per scheme) and VPC CIDRs are read
//! once and cached. An unchanged stack costs reads only: the load balancer, its target
//! groups and their tags (20 ARNs per `DescribeTags`), security groups, attributes where the
//! spec sets some, listeners, and rules of HTTP(S) listeners.
//!
//! The bench (`benches/ensure.rs`) counts the **minimum** for creating a stack as: every
//! mutation the stack needs (one per security group, ingress batch, target group, attribute
//! set, load balancer, listener and rule) plus one read to learn that the stack is absent. The
//! first pass is measured against that; the second pass must make zero mutating calls.
//!
//! # Tests
//! `tests/{addresses,routes,load_balancers}.rs` drive every trait method through the real SDK
//! against the mock cloud, faults included (throttling, 5xx, lagging Describe, limits).
//! `tests/discovery.rs` runs [`AwsProvider::connect`] against the mock cloud's IMDSv2 with only
//! the cluster name and endpoints given. `tests/moto.rs` runs shared cases against the mock
//! cloud **and moto** (`moto_server`, from `scripts/setup.sh`'s venv; skipped with a message
//! when missing, a failure under CI). Each case makes its own VPC, role-tagged subnets, nodes'
//! group and `RunInstances` nodes; calls are counted on the wire by a wrapper around the SDK's
//! HTTP client (moto has no call counter), so "a second `ensure` makes no mutating call" is
//! checked on both clouds, and the stacks described after it are compared too.
//!
//! | against both | mock cloud only, because moto |
//! |---|---|
//! | `describe_node` of a launched instance (type limits, primary interface, subnet CIDR) | has no ENI limit per instance type (interface limit case) |
//! | `attach_interface`: tags at creation, device index, the nodes' groups | ignores `Ipv4PrefixCount` (prefix case) |
//! | secondary IPs: one `AssignPrivateIpAddresses`, release | keeps routes to a terminated instance active (blackhole case) |
//! | `list_orphans` / `delete_orphan` (foreign, other cluster, fresh, attached untouched) | |
//! | `detach_interface` (and refusing the primary) | |
//! | routes: create (source/dest check off), no-op repeat, replace, list, delete, refusals | |
//! | NLB and ALB `ensure`, idempotent second `ensure`, `list_owned`, `delete` | |
//! | `sync_targets` with IP targets (register, no-op, deregister) | |
//!
//! Inside shared cases, moto's deviations are asserted for the mock cloud only: moto ignores
//! `Attachment.DeleteOnTermination` in ModifyNetworkInterfaceAttribute (the call is still
//! checked), keeps unassigned addresses on the interface, and drops deregistered targets
//! without draining. moto's `AssignPrivateIpAddresses` answer lists the interface's primary
//! address among the new ones; `assign_blocks` passes the answer on, so against moto (only)
//! the primary address appears in its result, which the test tolerates for moto alone. ALB
//! listeners there are HTTP, since moto refuses certificates that are not in its ACM.
//!
//! # Not built yet
//! - Extra (non-default) listener certificates (`AddListenerCertificates`): only the default
//!   certificate is managed.
//! - A shared backend security group (the AWS Load Balancer Controller's); each ALB adds its
//!   own rule to the nodes' group, which meets the rules-per-group quota at scale.
//! - Rule reordering by `SetRulePriorities`: rules are matched by priority and modified in place.
//! - Target groups left unattached by an interrupted first `ensure` are found again by name
//!   (the next `ensure` adopts them when their tags are ours); `delete` finds groups through
//!   the load balancer only.
//! - AWS answers `CreateTargetGroup` for an existing name with identical settings with that
//!   group; a foreign group with our derived name *and* identical settings would be adopted
//!   on a first creation (names hash the cluster and owner, so this needs a deliberate copy).
//! - IPv6 pod addresses, GWLB, authentication actions, SNI/mTLS listener attributes.

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
