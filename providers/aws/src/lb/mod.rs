//! Load balancers: plan (pure), match (pure), then deploy (I/O).

mod backend_deploy;
pub mod backend_group;
pub mod convert;
mod deploy;
mod lifecycle;
pub mod matching;
pub mod model;
pub mod plan;
pub mod subnets;

pub(crate) use backend_deploy::BackendState;
