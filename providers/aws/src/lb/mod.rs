//! Load balancers: plan (pure), match (pure), then deploy (I/O).

pub mod convert;
mod deploy;
mod lifecycle;
pub mod matching;
pub mod model;
pub mod plan;
pub mod subnets;
