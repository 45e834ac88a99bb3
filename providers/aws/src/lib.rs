//! cloudnet-aws: the AWS backend of cloudnet. It implements the core's
//! [`Addresses`](cloudnet_core::Addresses), [`Routes`](cloudnet_core::Routes) and
//! [`LoadBalancers`](cloudnet_core::LoadBalancers) on the official `aws-sdk-ec2` and
//! `aws-sdk-elasticloadbalancingv2`, so the controllers and the IPAM allocator never see an
//! AWS type.
//!
//! ```text
//!  LoadBalancerSpec ─ plan (pure) ─> DesiredStack ─┐
//!                                                  ├─ diff (pure) ─> ChangeSet ─> apply (writes)
//!  observe: Describe* ─ convert ─> ObservedStack ──┘
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
//! | L7 stack | ALB + target groups + listeners + rules (host-header / path-pattern; forward with weights, redirect, fixed response) + a managed (frontend) security group + the cluster's shared backend security group |
//! | the cluster's load balancers reaching the nodes | one shared backend security group (`k8s-traffic-<hash>`) on every ALB, and on NLBs created with security groups; one rule per protocol on the nodes' group admits it ([`lb::backend_sg`]). With `backend_security_group: false`, each ALB's managed group gets its own rule there instead |
//! | backend group | target group: `ip` targets for pod IPs, `instance` targets for node ports (node IP -> instance ID by `DescribeInstances`) |
//!
//! # Load balancers: observe -> diff -> apply
//! `ensure(spec)` is three steps, and [`AwsProvider::plan`] is the first two with the same
//! code (for `cloudnet plan`):
//!
//! 1. **Observe** ([`lb::observe`]): reads only, each through the call budget, one read per
//!    resource kind (paged where the API pages): the load balancer by its name; when it
//!    exists, its target groups (and planned ones found by name when nothing sends to them),
//!    their tags (20 ARNs per call), the attributes the spec sets, the listeners and the rules
//!    of HTTP(S) listeners; an ALB's managed security group by name; the nodes' group's rules
//!    where the per-ALB rule is managed; the shared backend security group (cached). The
//!    result is an [`lb::observe::ObservedStack`] of plain structs ([`lb::convert`]). The
//!    first `ensure` of each stack in a provider's life (a restarted controller's) takes the
//!    load balancer, target groups, their tags and the managed security group from one
//!    listing of all stacks instead, while it is younger than `inventory_ttl` (30 s):
//!    `lb/inventory.rs`. Every later `ensure` observes call by call, so drift made by hand
//!    is seen at the next resync as before.
//! 2. **Diff** ([`lb::diff`]): a pure function `(spec's DesiredStack, ObservedStack) ->`
//!    [`lb::changes::ChangeSet`]: an ordered, serde-serialisable list of typed
//!    [`lb::changes::Change`]s, create / modify / delete per resource kind, each naming the
//!    resource and, for a modification, only the fields that differ. The per-kind matching
//!    functions ([`lb::matching`]) are its parts. Ownership is decided here: a resource under
//!    one of our names without our tags makes the whole diff a `Conflict`, before anything is
//!    touched. The order is the dependency order: managed security group, its rule on the
//!    nodes' group (or the shared backend security group and its rule), target groups, load
//!    balancer (attributes with it), the old per-ALB rule once the shared group is on, then
//!    listeners, rules (stale ones first, to free their priorities), and last the stale
//!    listeners and target groups. Resources still to be created are named by
//!    [`lb::changes::Ref::New`] and resolved by apply.
//! 3. **Apply** (`lb/apply.rs`, writes in `lb/writes.rs`): executes the set in order and
//!    stops at the first failure; the error keeps the cloud's kind and code and its message
//!    starts with the failed change (`create listener 443: ...`). What was applied stays;
//!    the next `ensure` observes it and goes on (the diff tables cover stacks left half-built).
//!
//! The shared backend security group is the one change applied against the latest state
//! rather than the observed one: it belongs to the cluster, so it is widened under one lock
//! ([`lb::backend_sg`]). `delete` goes the other way and treats parts already gone as done.
//!
//! # The shared backend security group
//! As the AWS Load Balancer Controller does by default (`--enable-backend-security-group`),
//! one group per cluster is the source the nodes' group admits, so the nodes' group holds one
//! rule per protocol (`tcp`, and `udp` when a UDP target needs it) however many load
//! balancers there are, instead of one per ALB (the rules-per-group quota is 60 by default).
//! The rule is a port range over every target and health-check port of the stacks ensured;
//! it widens when a stack needs a port outside it (the new rule is authorized before the old
//! one is revoked) and never narrows while load balancers exist: narrowing needs every stack's
//! ports, which one `ensure` does not have, and the group is only on our load balancers,
//! which send only to their target groups' ports. The group is found by name and tags (a
//! foreign group under its name is a `Conflict`, never adopted), created on the first
//! `ensure` that needs it, and attached with the frontend group. An ALB from before (or from
//! `backend_security_group: false`) keeps its own rule on the nodes' group until it carries
//! the backend security group; then that rule is revoked. The group ID and the nodes' group's rules
//! are kept for `backend_cache_ttl` under one async lock: concurrent ensures make one group
//! and one rule. A rule removed behind our back is restored once the cache expires, by the
//! next `ensure`, to that stack's ports; the range grows back as the other stacks are
//! ensured again (a resync ensures them all).
//!
//! `delete` removes the backend security group when no load balancer in the VPC carries it any more
//! (also when the switch is off, so turning it off does not strand the group): its rules on
//! the nodes' group are revoked, then the group deleted. AWS refuses that with
//! `DependencyViolation` while a deleted load balancer's interfaces linger; the delete still
//! succeeds and the group is deleted by the next `delete` (garbage collection deletes again
//! an ID that is already gone, which also retries it). The mock cloud has no load balancer
//! interfaces but refuses to delete a group an interface or another group's rule still
//! uses; its test holds the group with an interface.
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
//! The backend security group belongs to the cluster, not to one object: its owner is cluster-scoped
//! (`cloudnet.io/owner-kind=ingress-group`, `cloudnet.io/owner=@traffic`, a name no
//! Kubernetes object can have), its name `derive_name(NameRules::Elbv2, owner,
//! ["backend-sg"])` = `k8s-traffic-<hash>` (the hash covers the cluster), and it carries
//! `cloudnet.io/resource=backend-security-group`.
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
//! all callers slow down together: it takes the SDK's own verdict, which reads the code from
//! the error's metadata (`ProvideErrorMetadata::code()`), never the body. Errors are mapped
//! by that code and the HTTP status with [`cloudnet_core::Error::from_aws`], never by
//! message. Paged reads go page by page through [`call::Caller::pages`], each page its own
//! budgeted call (the SDK's paginators send pages on their own, past the budget). [`AwsMetrics`] counts calls, errors by
//! kind, throttles and latency per operation.
//!
//! # Call counts of `ensure` (and the bench's minimum)
//! A new stack costs one `DescribeLoadBalancers` (by name), one `DescribeSecurityGroups` for
//! an ALB's managed group, then only mutations; subnets (per scheme) and VPC CIDRs are read
//! once and cached. The shared backend security group costs, once per cluster (and again
//! per `backend_cache_ttl`), one `DescribeSecurityGroups` by name, one of the nodes' group,
//! and `CreateSecurityGroup` plus one `AuthorizeSecurityGroupIngress` the first time; no
//! call per stack. An unchanged stack costs reads only: the load balancer, its target
//! groups and their tags (20 ARNs per `DescribeTags`), the managed security group,
//! attributes where the spec sets some, listeners, and rules of HTTP(S) listeners; its
//! change set is empty and apply makes no call.
//!
//! The **minimum** for creating a stack is: every mutation the stack needs (one per
//! security group, ingress batch, target group, attribute set, load balancer, listener and
//! rule) plus one read to learn that the stack is absent, and once for the cluster 3 for
//! the shared backend security group (the read that finds it absent, its creation, the one
//! rule on the nodes' group; the read of the nodes' group, needed to find rules to migrate,
//! is counted as overhead). The overhead is the ALB's managed-group read and the cached
//! reads. `tests/common/specs.rs` computes it; `tests/call_counts.rs` checks, on the wire,
//! that creating 40 ALB and 80 NLB stacks takes at most 1.05 times the minimum and that
//! ensuring them again makes no mutating call, with the shared group on and off; the bench
//! (`benches/ensure.rs`) checks the same at 200 + 400 stacks and fails when it does not hold.
//!
//! # Tests
//! The diff is table-tested without a cloud (`lb/diff/tests.rs`): creation, no change,
//! drift of each field, foreign resources under our names, stacks left half-built by a
//! crash, and the shared backend security group; each matching function has its table.
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
//! | `sync_targets` with IP targets (register, no-op, deregister) | deletes a security group an interface still uses (backend security group left by a delete, deleted by the next) |
//! | shared backend security group: 10 concurrent ALBs make one group and one nodes' rule, second `ensure` mutates nothing, the last delete removes both | |
//! | a foreign group under the backend security group's name: `Conflict`, untouched, no load balancer | |
//! | switched off: the per-ALB rule; switched on: migrated to the backend security group; off again: detached, deleted with the last load balancer | |
//! | the nodes' rule widens for a new port (still one), an NLB with security groups carries the group (UDP: a `udp` rule), a revoked rule is restored | |
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
//! - A user-given backend security group (the Load Balancer Controller's `--backend-security-group`);
//!   the backend security group's nodes' rule never narrows while load balancers exist.
//! - NLBs carry the backend security group only when created with security groups (AWS cannot add
//!   groups to an NLB created without); the others reach the nodes as before.
//! - Rule reordering by `SetRulePriorities`: rules are matched by priority and modified in place.
//! - Target groups left unattached by an interrupted first `ensure` are found again by name
//!   (the next `ensure` adopts them when their tags are ours); `delete` finds groups through
//!   the load balancer only.
//! - AWS answers `CreateTargetGroup` for an existing name with identical settings with that
//!   group; a foreign group with our derived name *and* identical settings would be adopted
//!   on a first creation (names hash the cluster and owner, so this needs a deliberate copy).
//! - IPv6 pod addresses, GWLB, authentication actions, SNI/mTLS listener attributes.

pub mod addresses;
mod attach;
pub mod call;
pub mod config;
pub mod device_index;
mod ec2_convert;
pub mod error;
pub mod lb;
pub mod metrics;
pub mod ops;
pub mod provider;
pub mod routes;
pub mod sg;
mod stack_listing;

pub use config::{AwsConfig, InstanceIdentity, RouteTableSelector};
pub use error::ConfigError;
pub use metrics::{AwsMetrics, CallTotals};
pub use ops::AwsOp;
pub use provider::AwsProvider;
