//! The CNI plugin `cloudnet-cni` (CNI spec 1.1.0): what the runtime passes (environment,
//! configuration on stdin), what the plugin answers (a result or an error with the spec's
//! codes), and the six verbs in [`commands`].
//!
//! ```text
//!   runtime --env + config--> cloudnet-cni --gRPC--> ipamd      (address)
//!                                  '-------netlink--> pod netns (veth, /32, routes)
//! ```

pub mod commands;
pub mod install;
pub mod types;

pub use commands::run;
pub use types::{CniError, Command, Env, NetConf};

/// The spec version this plugin implements.
pub const SPEC_VERSION: &str = "1.1.0";
/// Versions whose configuration and result formats this plugin reads and writes.
pub const SUPPORTED_VERSIONS: &[&str] = &["1.0.0", "1.1.0"];
