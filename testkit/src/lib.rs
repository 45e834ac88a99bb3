//! Finds the external programs the test suites drive: moto (`moto_server`), the aws CLI,
//! kubectl, and for the Helm chart's tests helm and kubernetes-validate. One lookup for all of
//! them, so a missing tool fails every suite the same way.
//!
//! ```text
//!   tool("kubectl") ──▶ $CLOUDNET_VENV/bin/kubectl   (default $HOME/.cache/cloudnet/venv)
//!                   ──▶ each directory of $PATH
//!                   ──▶ not found: panic naming scripts/setup.sh
//!                                  (or, with CLOUDNET_SKIP_EXTERNAL=1, None: the test skips)
//! ```
//!
//! A missing tool is a failure by default, locally as in CI: a green run must mean the tests
//! that need moto, the aws CLI and kubectl ran. A developer without them can opt out
//! explicitly with `CLOUDNET_SKIP_EXTERNAL=1`; `scripts/test.sh` clears that variable.
//!
//! [`chart`] renders the Helm chart's RBAC with helm for the suites that run under it.
//!
//! Also the suites' one polling helper, [`eventually`]: each suite passes its own wait.

pub mod chart;

use std::ffi::OsStr;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The one variable that turns a missing external tool from a failure into a skip.
pub const SKIP_ENV: &str = "CLOUDNET_SKIP_EXTERNAL";

/// The variable naming the project's Python venv (moto, the aws CLI).
pub const VENV_ENV: &str = "CLOUDNET_VENV";

/// The venv `scripts/setup.sh` installs moto and the aws CLI into.
pub fn venv_dir() -> Option<PathBuf> {
    match std::env::var_os(VENV_ENV) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cloudnet/venv")),
    }
}

/// True when the developer opted out of the external tools (`CLOUDNET_SKIP_EXTERNAL=1`).
pub fn skip_external() -> bool {
    skip_requested(std::env::var_os(SKIP_ENV).as_deref())
}

fn skip_requested(value: Option<&OsStr>) -> bool {
    value == Some(OsStr::new("1"))
}

/// Where `name` is: `bin/<name>` in the venv, else the first executable `name` on `path`.
/// Pure apart from reading file metadata, so it can be tested with made-up directories.
pub fn locate(name: &str, venv: Option<&Path>, path: Option<&OsStr>) -> Option<PathBuf> {
    let from_venv = venv.map(|v| v.join("bin").join(name));
    let from_path = path
        .map(|p| {
            std::env::split_paths(p)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    from_venv
        .into_iter()
        .chain(from_path)
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Why a test cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "{name} is missing (looked in the venv at ${VENV_ENV} or $HOME/.cache/cloudnet/venv, \
         then on PATH): run scripts/setup.sh to install it, or set {SKIP_ENV}=1 to skip the \
         tests that need it"
    )]
    Missing { name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to do about a tool that was or was not found: its path, a skip (None) when the
/// developer opted out, or the failure.
pub fn decide(name: &str, found: Option<PathBuf>, skip: bool) -> Result<Option<PathBuf>> {
    match found {
        Some(p) => Ok(Some(p)),
        None if skip => Ok(None),
        None => Err(Error::Missing { name: name.into() }),
    }
}

/// Finds `name` for a test. Panics with [`Error::Missing`] when it is missing, unless
/// `CLOUDNET_SKIP_EXTERNAL=1`: then it prints why and returns None, and the test returns early.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = locate(
        name,
        venv_dir().as_deref(),
        std::env::var_os("PATH").as_deref(),
    );
    match decide(name, found, skip_external()) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            eprintln!("skipping: {name} is missing and {SKIP_ENV}=1");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// moto's server (`moto_server`), an independent AWS mock the contract suite also runs on.
pub fn moto() -> Option<PathBuf> {
    tool("moto_server")
}

/// The aws command line (botocore), a client independent of the Rust SDKs.
pub fn aws_cli() -> Option<PathBuf> {
    tool("aws")
}

/// kubectl, driven against the embedded Kubernetes API.
pub fn kubectl() -> Option<PathBuf> {
    tool("kubectl")
}

/// helm, for the chart's tests (`deploy/scripts/setup-chart-tests.sh` installs it).
pub fn helm() -> Option<PathBuf> {
    tool("helm")
}

/// kubernetes-validate (PyPI, in the venv), for the chart's tests.
pub fn kubernetes_validate() -> Option<PathBuf> {
    tool("kubernetes-validate")
}

/// python3 with `module` importable (`package` from PyPI, in the venv scripts/setup.sh makes).
/// Like [`tool`]: panics naming the package when it is missing, unless
/// `CLOUDNET_SKIP_EXTERNAL=1`: then it prints why and returns None.
pub fn python_with(module: &str, package: &str) -> Option<PathBuf> {
    let py = tool("python3")?;
    let imports = std::process::Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if imports {
        return Some(py);
    }
    if skip_external() {
        eprintln!("skipping: {package} is not installed in {}", py.display());
        return None;
    }
    panic!(
        "{package} is not installed for {}: run scripts/setup.sh",
        py.display()
    );
}

/// Polls `check` every 50 ms until it returns `Some`, and returns that; panics naming `what`
/// once `wait` has passed. Needs a tokio runtime with the time driver.
pub async fn eventually<T, F, Fut>(wait: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cloudnet-testkit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_tool(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        p
    }

    #[test]
    fn the_venv_wins_over_path() {
        let root = scratch("venv-first");
        let in_venv = write_tool(&root.join("venv/bin"), "aws", 0o755);
        write_tool(&root.join("usr/bin"), "aws", 0o755);
        let path = std::env::join_paths([root.join("usr/bin")]).unwrap();
        assert_eq!(
            locate("aws", Some(&root.join("venv")), Some(&path)),
            Some(in_venv)
        );
    }

    #[test]
    fn path_is_searched_in_order_when_the_venv_lacks_the_tool() {
        let root = scratch("path-order");
        let first = write_tool(&root.join("a"), "kubectl", 0o755);
        write_tool(&root.join("b"), "kubectl", 0o755);
        let path: OsString = std::env::join_paths([root.join("a"), root.join("b")]).unwrap();
        assert_eq!(
            locate("kubectl", Some(&root.join("no-venv")), Some(&path)),
            Some(first)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_that_is_not_executable_is_not_the_tool() {
        let root = scratch("not-exec");
        write_tool(&root.join("a"), "kubectl", 0o644);
        let path = std::env::join_paths([root.join("a")]).unwrap();
        assert_eq!(locate("kubectl", None, Some(&path)), None);
        // A directory of that name is not the tool either.
        std::fs::create_dir_all(root.join("b/kubectl")).unwrap();
        let path = std::env::join_paths([root.join("b")]).unwrap();
        assert_eq!(locate("kubectl", None, Some(&path)), None);
    }

    #[test]
    fn a_missing_tool_fails_naming_setup_unless_skipped() {
        let err = decide("moto_server", None, false).unwrap_err().to_string();
        assert!(err.contains("moto_server is missing"), "{err}");
        assert!(err.contains("scripts/setup.sh"), "{err}");
        assert!(err.contains(SKIP_ENV), "{err}");
        assert_eq!(decide("moto_server", None, true), Ok(None));
        let p = PathBuf::from("/x/moto_server");
        assert_eq!(decide("moto_server", Some(p.clone()), false), Ok(Some(p)));
    }

    #[test]
    fn only_the_value_1_opts_out() {
        assert!(skip_requested(Some(OsStr::new("1"))));
        for v in ["", "0", "true", "yes"] {
            assert!(!skip_requested(Some(OsStr::new(v))), "{v:?}");
        }
        assert!(!skip_requested(None));
    }
}
