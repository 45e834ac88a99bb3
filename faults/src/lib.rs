//! cloudnet's fault suite (issue 15): scenarios that break one piece of a running cluster
//! (a process, the API, the cloud, the world around it), with invariants checked on every
//! sample from sources that do not trust each other, and per scenario the four availability
//! metrics (reaction, repair, recovery, downtime).
//!
//! ```text
//!   this process: mock cloud (faults via /_mockcloud/faults) ── embedded API + simulated
//!                 kubelet, scheduler, Deployments, EndpointSlices
//!        │ SIGKILL / restart                       │ SIGKILL / restart, checkpoint damage
//!        ▼                                         ▼
//!   cloudnet-controller (process)          cloudnet-ipamd per node (process, unix socket)
//! ```
//!
//! The embedded API runs in this process: it has no binary of its own, and its simulated
//! cluster components share its store; API faults are made on it directly: its server stops
//! serving and serves again on the same address with the same store, as a real API server
//! restarts while etcd keeps the data ([`cloudnet_kubesim::server::Handle::stop_serving`]),
//! its watch history expires as after etcd's compaction
//! ([`cloudnet_kubesim::server::Handle::expire_watches`]), its watches end
//! ([`cloudnet_kubesim::server::Handle::close_watches`]).
//!
//! The cloud is a parameter: AWS, GCP or Azure ([`clouds`], one module each: the world, the
//! Nodes, the controller's and ipamds' settings, and how the mock's state dump is read).
//! A scenario runs on a cloud as that cloud's analogue of its fault, or is listed as not
//! applicable there with the reason ([`support`]).
//!
//! `cloudnet faults list --cloud <c>` / `cloudnet faults run --cloud <c> <name>` run
//! scenarios by name; the test `cargo test --workspace --test suite` runs the short form of
//! every scenario on every cloud.

pub mod addresses;
pub mod api_faults;
pub mod bad_annotation;
pub mod clouds;
pub mod env;
pub mod exhaustion;
pub mod gcp_changes;
pub mod http;
pub mod invariants;
pub mod observe;
pub mod operator;
pub mod operator_azure;
pub mod procs;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod stack;
pub mod support;
pub mod workload;
pub mod world_changes;
pub mod world_changes_azure;

pub use clouds::Cloud;
pub use env::Options;
pub use report::Row;
pub use scenarios::{ALL, Scenario};
