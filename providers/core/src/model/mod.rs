//! The provider-neutral model, all `serde`: what the controllers build and the providers take.

pub mod addresses;
pub mod load_balancer;
pub mod routes;

pub use addresses::*;
pub use load_balancer::*;
pub use routes::*;
