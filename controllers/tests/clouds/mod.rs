//! The provider suite's worlds (`tests/tests/provider_suite`): each cloud's backend through its
//! real client library against the mock cloud, and what a test arranges and reads there. The
//! controllers' end-to-end tests that run on every cloud build on them.
#![allow(dead_code)]

#[path = "../../../tests/tests/provider_suite/aws_world.rs"]
pub mod aws_world;
#[path = "../../../tests/tests/provider_suite/azure_world.rs"]
pub mod azure_world;
#[path = "../../../tests/tests/provider_suite/gcp_world.rs"]
pub mod gcp_world;
#[path = "../../../tests/tests/provider_suite/world.rs"]
pub mod world;
