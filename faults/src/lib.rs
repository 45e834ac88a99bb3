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
//! `cloudnet faults list` / `cloudnet faults run <name>` run scenarios by name; the test
//! `cargo test -p cloudnet-faults` runs the short form of every scenario.

pub mod addresses;
pub mod api_faults;
pub mod env;
pub mod exhaustion;
pub mod http;
pub mod invariants;
pub mod observe;
pub mod operator;
pub mod procs;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod stack;
pub mod workload;
pub mod world_changes;

pub use env::{Cloud, Options};
pub use report::Row;
pub use scenarios::{ALL, Scenario};
