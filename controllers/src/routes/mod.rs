//! VPC routes for node pod ranges (kubenet-style clusters): `Node.spec.podCIDRs` -> one route
//! per range in each of the cluster's route tables, to the node's instance.
//!
//! ```text
//!  Nodes ──(desired: pure)──┐
//!                           ├──(plan: pure)──> RoutePlan { create, delete, conflicts } ──> Routes
//!  Routes::list ────────────┘
//! ```
//!
//! The plan never touches a route the provider does not mark `owned`: a foreign route on a
//! node's range is a conflict to report, not to replace. Routes are compared by
//! (table, destination); an owned route whose target drifted or went blackhole is created
//! again (the provider replaces its own routes), and an owned route no node wants any more is
//! deleted.
//!
//! [`controller::run`] is the loop: Node changes are debounced so that many nodes joining or
//! leaving at once make one plan (one listing, one create or delete per route).

pub mod controller;
mod plan;

pub use controller::{RouteSettings, run};
pub use plan::{NodeRoutes, RoutePlan, desired_from_nodes, plan};
