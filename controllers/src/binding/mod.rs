//! TargetGroupBindings: a Service port's members registered in a target group made outside
//! Kubernetes (the AWS Load Balancer Controller's TargetGroupBinding, group `cloudnet.io`).
//!
//! ```text
//!  TargetGroupBinding ─┐
//!  Service, slices ────┼─> reconcile ──(resolve: pure)──> [Target] ──> sync_bound_targets
//!  Nodes ──────────────┘                                               (register / deregister)
//!                          status: observedGeneration, targets, registeredTargets, Ready <─┘
//! ```
//!
//! - The members come from the Service controller's own target code
//!   ([`crate::service::targets::port_targets`]): ready endpoints for `ip`, nodes on the
//!   port's node port for `instance`.
//! - Only the leader writes; the target group itself is never created, changed or deleted,
//!   and only targets this binding registered (`status.registeredTargets`) are ever
//!   deregistered.
//! - Bad input (a Service or port that does not exist, an `instance` binding on a port with
//!   no node port, a target group that is missing or of another type) -> a Warning Event and
//!   `Ready=False` with the reason, and no register or deregister call.
//! - A finalizer holds the binding until its targets are deregistered.

pub mod reconcile;
pub mod resolve;

pub use reconcile::{CONDITION, FINALIZER, run};
pub use resolve::{ResolveError, format_targets, parse_targets, resolve};
