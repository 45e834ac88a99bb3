//! `cloudnet-cni`: the CNI plugin. The runtime runs it with `CNI_*` variables and the
//! network configuration on stdin; it prints a result or a CNI error on stdout.
//!
//! `cloudnet-cni install ...` (the node DaemonSet's init container) copies this binary into the
//! host's CNI bin directory and writes the conflist: `cloudnet_ipamd::cni::install`.

use std::io::{Read, Write};
use std::process::ExitCode;

use cloudnet_ipamd::cni::{self, CniError, Env};

fn main() -> ExitCode {
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("install")) {
        return install();
    }
    let mut stdin = Vec::new();
    let (version, outcome) = match std::io::stdin().read_to_end(&mut stdin) {
        Err(e) => (
            None,
            Err(CniError::new(
                cni::types::code::IO_FAILURE,
                format!("read stdin: {e}"),
            )),
        ),
        Ok(_) => {
            // The error result carries the configuration's version when it can be read.
            let version = serde_json::from_slice::<serde_json::Value>(&stdin)
                .ok()
                .and_then(|v| {
                    v.get("cniVersion")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                });
            (version, run(&stdin))
        }
    };
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(v) => {
            if !v.is_null() {
                let _ = writeln!(out, "{v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let v = version.unwrap_or_else(|| cni::SPEC_VERSION.to_string());
            let _ = writeln!(out, "{}", e.to_json(&v));
            ExitCode::FAILURE
        }
    }
}

fn run(stdin: &[u8]) -> Result<serde_json::Value, CniError> {
    let env = Env::from_vars(|k| std::env::var(k).ok())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CniError::new(cni::types::code::IO_FAILURE, format!("runtime: {e}")))?;
    rt.block_on(cni::run(&env, stdin))
}

fn install() -> ExitCode {
    use clap::Parser;
    let args = cni::install::InstallArgs::parse_from(std::env::args_os().skip(1));
    let done = std::env::current_exe()
        .map_err(|e| format!("this executable's path: {e}"))
        .and_then(|exe| cni::install::install(&args, &exe));
    match done {
        Ok(done) => {
            println!(
                "installed {} and {}",
                done.plugin.display(),
                done.conflist.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cloudnet-cni install: {e}");
            ExitCode::FAILURE
        }
    }
}
