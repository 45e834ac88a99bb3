//! The pieces a scenario kills, as processes: `cloudnet-controller` and one `cloudnet-ipamd`
//! per node, each started from the built binaries with the environment a Deployment or
//! DaemonSet gives it, its output in a log file, killed with `SIGKILL` (no chance to clean up)
//! or stopped with `SIGTERM`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};

/// Where the binaries are: `$CLOUDNET_BIN_DIR`, else the directory of the running executable
/// and its parent (a test executable lives in `target/<profile>/deps`, the binaries in
/// `target/<profile>`).
/// What `cloudnet-controller` says when it stops because it lost its Lease (its error's
/// text, `cloudnet_controllers::Error::LostLeadership`).
pub const LOST_LEASE: &str = "lost the leader lease";

#[derive(Debug, Clone)]
pub struct Binaries {
    pub controller: PathBuf,
    pub ipamd: PathBuf,
}

impl Binaries {
    pub const CONTROLLER: &str = "cloudnet-controller";
    pub const IPAMD: &str = "cloudnet-ipamd";

    pub fn locate() -> Result<Binaries> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("CLOUDNET_BIN_DIR") {
            dirs.push(PathBuf::from(d));
        }
        if let Ok(exe) = std::env::current_exe()
            && let Some(d) = exe.parent()
        {
            dirs.push(d.to_path_buf());
            if let Some(p) = d.parent() {
                dirs.push(p.to_path_buf());
            }
        }
        let find = |name: &str| {
            dirs.iter()
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .with_context(|| {
                    format!(
                        "{name} is not built (looked in {dirs:?}); run `cargo build -p cloudnet-controllers --bin cloudnet-controller -p cloudnet-ipamd --bin cloudnet-ipamd` or set CLOUDNET_BIN_DIR"
                    )
                })
        };
        Ok(Binaries {
            controller: find(Self::CONTROLLER)?,
            ipamd: find(Self::IPAMD)?,
        })
    }
}

/// One running process and its log.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    /// The log's length when this process started (the log is appended to by each start).
    log_start: u64,
    child: tokio::process::Child,
}

impl Proc {
    /// Starts `program` with `args` and exactly `env` (and `PATH`), its stdout and stderr appended to
    /// `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let log_start = out.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Proc {
            name: name.to_string(),
            log: log.to_path_buf(),
            log_start,
            child,
        })
    }

    /// `SIGKILL`, and waits for the process to be gone.
    pub async fn kill(mut self) -> Result<()> {
        self.child.start_kill().ok();
        self.child.wait().await?;
        Ok(())
    }

    /// `SIGTERM` (the process stops as on a pod's deletion), then `SIGKILL` after `grace`.
    pub async fn terminate(mut self, grace: std::time::Duration) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill().ok();
            self.child.wait().await?;
        }
        Ok(())
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails with the end of the log when the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("{} exited ({status}):\n{}", self.name, self.log_tail(40));
        }
        Ok(())
    }

    /// What this process (not an earlier one on the same log) wrote.
    pub fn own_log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(self.log_start)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A free loopback port (bound then released), never one this process handed out before:
/// the kernel may give a released port again, and two pieces of one world (or of two worlds
/// run side by side) must not be told to bind the same one.
pub fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if given.insert(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no loopback port that was not handed out already")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_port_is_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
