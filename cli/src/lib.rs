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

pub mod controller;
pub mod manifests;
pub mod pod_addresses;
pub mod sandbox;
pub mod summary;
