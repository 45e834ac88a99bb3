//! Load balancers: plan (pure) -> observe (reads) -> diff (pure) -> apply (writes).
//!
//! `ensure` runs all four ([`ensure`]); `plan` stops after the diff and returns the
//! [`changes::ChangeSet`]. A provider's first observe of each stack reads a listing of all
//! stacks ([`inventory`]) instead of its per-stack calls.

mod apply;
pub mod backend_sg;
mod backend_sg_deploy;
mod bound;
pub mod changes;
pub mod convert;
pub mod diff;
mod ensure;
mod inventory;
mod lifecycle;
pub mod matching;
pub mod model;
pub mod observe;
pub mod plan;
pub mod subnets;
mod writes;
