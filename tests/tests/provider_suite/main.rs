//! One provider suite for every cloud: each body in `bodies` is written once against
//! `cloudnet_core::Cloud` and a small [`world::World`] per cloud (arrange and observe the mock
//! cloud), and runs as one test per cloud: `aws::<body>`, `gcp::<body>`, `azure::<body>`. Each
//! cloud's backend goes through its real client library to the one mock cloud; what a test
//! asserts about the cloud it reads from the mock's state and call log.
//!
//! ```text
//!   bodies::<body>(&dyn World) ──> Cloud { addresses, routes, load_balancers } ──> mock cloud
//!                │                                                                   │
//!                └──────────── World: make a node / foreign resource, read state ────┘
//! ```

mod bodies;
mod world;

mod aws_world;
mod azure_world;
mod gcp_world;

/// One `#[tokio::test]` per body for a cloud, in a module named for the cloud.
macro_rules! suite {
    ($cloud:ident, $world:expr, [$($body:ident),* $(,)?]) => {
        mod $cloud {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    let world = $world;
                    crate::bodies::$body(&world).await;
                }
            )*
        }
    };
}

/// Every body, for each cloud.
macro_rules! every_cloud {
    ($($body:ident),* $(,)?) => {
        suite!(aws, crate::aws_world::AwsWorld::start().await, [$($body),*]);
        suite!(gcp, crate::gcp_world::GcpWorld::start().await, [$($body),*]);
        suite!(azure, crate::azure_world::AzureWorld::start().await, [$($body),*]);
    };
}

every_cloud![
    addresses_are_assigned_once_and_released_idempotently,
    routes_are_created_replaced_and_deleted_and_foreign_ones_untouched,
    an_l4_load_balancer_is_ensured_and_ensured_again_without_a_change,
    targets_are_added_and_removed_and_unchanged_ones_make_no_call,
    delete_leaves_nothing_behind,
    a_foreign_resource_under_our_name_is_a_conflict_and_untouched,
    bad_input_is_a_clear_error_before_any_call,
    an_l7_load_balancer_is_ensured_synced_and_deleted,
];
