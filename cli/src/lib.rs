//! The `cloudnet` command's library: the sandbox (the whole suite on one machine) and the
//! manifest loader it applies with. The binary in `main.rs` is a thin clap front end, so the
//! tests drive exactly what users run.
//!
//! ```text
//!  cloudnet sandbox -f examples/
//!    ├─ mock cloud (EC2, ELBv2, IMDS) on 127.0.0.1:4566 ── instances ──┐
//!    ├─ embedded Kubernetes API (HTTPS) ◀── Nodes registered from ─────┘
//!    ├─ simulated scheduler, kubelet, Deployment controller, Service IPs
//!    ├─ cloudnet-controller's controllers (allocator, Services) ── AWS SDK ──▶ mock cloud
//!    ├─ an ipamd per node; the kubelet gets pod addresses from it over gRPC (ENI addresses)
//!    ├─ kubeconfig written for kubectl
//!    └─ manifests applied (server-side apply), progress, summary, wait for Ctrl-C
//! ```
//!
//! - [`sandbox`]: starting, applying, settling, the summary, shutting down in order.
//! - [`controller`]: `cloudnet-controller`'s controllers (the same `app::run` the binary
//!   calls) through the AWS provider's SDK clients against the mock cloud, as the API user
//!   `cloudnet-controller`, with leader election.
//! - [`pod_addresses`]: `--pod-addresses vpc` (an ipamd per node, asked over gRPC as the CNI
//!   plugin asks) or `range` (a /24 per node).
//! - [`summary`]: what the API shows, the cloud's side as the controllers wrote it back.
//! - [`manifests`]: the YAML/JSON loader; [`kubeconfig`]: the kubeconfig files written.
//! - [`faults`]: `cloudnet faults list|run`, the fault suite (the `cloudnet-faults` crate).

pub mod aks;
pub mod controller;
pub mod faults;
pub mod kubeconfig;
pub mod manifests;
pub mod plan;
pub mod pod_addresses;
pub mod sandbox;
pub mod summary;
