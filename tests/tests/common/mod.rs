//! Small helpers shared by the contract suites (the harness is `cloudnet_tests::contract!`).

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
