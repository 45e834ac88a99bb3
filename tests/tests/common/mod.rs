//! The contract-case macro and small helpers shared by the contract suites.

#![allow(dead_code)]

use aws_sdk_ec2::error::ProvideErrorMetadata;

/// The cloud's error code of a failed call ("" when it succeeded, so asserts print it).
pub fn code<T, E: ProvideErrorMetadata>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e.code().unwrap_or("<no code>").to_string(),
    }
}

/// A name unique within this test run, for clouds shared between cases.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 10_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `contract!(case)` runs `async fn case(&CloudUnderTest)` against the mock cloud and moto;
/// `contract!(case, mock_only = "why")` only against the mock cloud, with the reason written
/// where the next reader looks.
#[macro_export]
macro_rules! contract {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mockcloud() {
                let mock = $crate::common::start_mock().await;
                super::$case(&mock.cloud()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                match cloudnet_tests::shared_moto() {
                    Ok(endpoint) => {
                        let cloud = cloudnet_tests::CloudUnderTest {
                            kind: cloudnet_tests::CloudKind::Moto,
                            endpoint: endpoint.to_string(),
                        };
                        super::$case(&cloud).await;
                    }
                    Err(why) if cloudnet_tests::moto_required() => {
                        panic!("moto is required here: {why}")
                    }
                    Err(why) => eprintln!("skipping the moto half of {}: {why}", stringify!($case)),
                }
            }
        }
    };
    ($case:ident, mock_only = $reason:literal) => {
        mod $case {
            #[doc = $reason]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mockcloud() {
                let mock = $crate::common::start_mock().await;
                super::$case(&mock.cloud()).await;
            }
        }
    };
}

/// The mock cloud for one case, with its default world.
pub struct Mock {
    pub handle: cloudnet_mockcloud::Handle,
}

impl Mock {
    pub fn cloud(&self) -> cloudnet_tests::CloudUnderTest {
        cloudnet_tests::CloudUnderTest {
            kind: cloudnet_tests::CloudKind::MockCloud,
            endpoint: self.handle.endpoint_url(),
        }
    }
}

pub async fn start_mock() -> Mock {
    let config = cloudnet_mockcloud::Config::ephemeral(cloudnet_mockcloud::World::default());
    let handle = cloudnet_mockcloud::MockCloud::start(config)
        .await
        .expect("mock cloud starts");
    Mock { handle }
}
