//! Pod readiness gates (the AWS Load Balancer Controller's, in its
//! `pkg/targetgroupbinding` readiness code): a pod whose `spec.readinessGates` carries
//! `target-health.cloudnet.io/<name>` (or the anchor's `target-health.elbv2.k8s.aws/<name>`)
//! becomes Ready only once its address is a healthy target of the load balancer groups that
//! name stands for, so a rolling update never takes an old pod away before its successor
//! takes traffic.
//!
//! ```text
//!  Pod watch ──▶ Gates (index) ──registrable pods──▶ Service / Ingress / TargetGroupBinding
//!                  ▲     │                            controllers register their endpoints
//!                  │     │ waiting pods               although the pods are not Ready yet
//!   groups ────────┘     ▼                            (containers ready, gate closed)
//!   (published by   every poll while some pod waits:
//!    the three)     target_health(group) ──▶ healthy in all? ──▶ pods/status: gate True
//!                   every recheck, for the open gates:
//!                   target_health(group) ──▶ lost in one? ──▶ pods/status: gate False
//! ```
//!
//! - `<name>` names a TargetGroupBinding in the pod's namespace when one of that name has
//!   synced an `ip` group, else the Service of that name: every `ip` group built from it
//!   (a Service's NLB, the target groups of Ingresses that route to it) must report the pod
//!   `healthy`.
//! - A gated pod whose containers are ready counts as a target while its gate is closed (its
//!   EndpointSlice endpoint says `ready: false`); otherwise the gate could never open.
//! - An open gate is checked again every recheck period (30 s by default): when the pod's
//!   target is no longer healthy in one of its groups (unhealthy, draining, deregistered)
//!   while the pod stays, the condition goes back to False, so the pod leaves the Service's
//!   ready endpoints (the anchor leaves it True). It stays a target, and the gate opens
//!   again once the target is healthy. Pods being deleted are left alone.
//! - ingress-gce's NEG gate `cloud.google.com/load-balancer-neg-ready` names no Service: it
//!   waits on the pod-IP groups (NEGs) of its namespace's Services that list the pod, and
//!   opens once the pod is healthy in each of them (`getHealth`); it closes like the others.
//!   Injecting it (ingress-gce's NEG controller does, into pods behind NEG Services) is left
//!   to the pod's author here.
//! - Instance (node port) targets are not gated: their health is the node's, not the pod's.
//!
//! - [`gates`]: the index and the pure decision. [`controller`]: the watch and the poll.
//! - [`inject`]: the optional mutating webhook's decision (AdmissionReview in, JSONPatch
//!   out); [`webhook`]: its HTTPS server.

pub mod controller;
pub mod gates;
pub mod inject;
pub mod webhook;

pub use gates::{ANCHOR_GATE_PREFIX, Backing, EVERY_SERVICE, GATE_PREFIX, Gates, gate_name};
