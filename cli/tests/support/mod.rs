//! What the sandbox tests share: the examples folder, a per-test temporary directory, and
//! `cloudnet sandbox --provider P` run through the binary as users run it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's `examples/`.
pub fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
}

/// A fresh directory under the system's temporary directory, named for the test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cloudnet sandbox --provider <provider> -f examples/web.yaml -f examples/<cloud_examples>
/// --exit-after-apply` on ephemeral ports, its kubeconfig in `dir`: the standard output of a
/// run that must succeed (its output and errors are shown when it does not).
pub fn run_sandbox_binary(provider: &str, cloud_examples: &str, dir: &Path) -> String {
    let kubeconfig = dir.join("kubeconfig");
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args([
            "sandbox",
            "--provider",
            provider,
            "-f",
            examples().join("web.yaml").to_str().unwrap(),
            "-f",
            examples().join(cloud_examples).to_str().unwrap(),
            "--exit-after-apply",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--mockcloud-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
