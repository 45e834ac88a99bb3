//! cloudnet's controllers.

pub mod leader;
pub mod node_ref;
pub mod routes;
pub mod service;
