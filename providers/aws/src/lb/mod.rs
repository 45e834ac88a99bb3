//! Load balancers: plan (pure), match (pure), then deploy (I/O).

pub mod convert;
pub mod matching;
pub mod model;
pub mod plan;
pub mod subnets;
