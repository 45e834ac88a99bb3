//! cloudnet's controllers.

pub mod service;
