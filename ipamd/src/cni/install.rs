//! `cloudnet-cni install`: what the node DaemonSet's init container runs. It copies the running
//! binary into the host's CNI bin directory and writes the network configuration list the
//! container runtime reads, each atomically (written beside, then renamed), so a runtime never
//! sees half a plugin or half a conflist.
//!
//! ```text
//!   cloudnet-cni install --bin-dir /host/opt/cni/bin --conf-dir /host/etc/cni/net.d
//!     ──▶ /host/opt/cni/bin/cloudnet-cni            (this executable, mode 0755)
//!     ──▶ /host/etc/cni/net.d/10-cloudnet.conflist  (cloudnet-cni [+ portmap])
//! ```
//!
//! The runtime runs the plugin with no arguments, so `install` as the first argument never
//! collides with a CNI call.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::{Value, json};

use super::types::NetConf;

/// The plugin's file name in the CNI bin directory (the conflist's `type`).
pub const PLUGIN_NAME: &str = "cloudnet-cni";
/// The network's name in the conflist.
pub const NETWORK_NAME: &str = "cloudnet";

/// `cloudnet-cni install`'s flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cloudnet-cni install",
    about = "Install cloudnet-cni and its network configuration on the host"
)]
pub struct InstallArgs {
    /// The host's CNI bin directory, as mounted in the container.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub bin_dir: PathBuf,
    /// The host's CNI configuration directory, as mounted in the container.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub conf_dir: PathBuf,
    /// The conflist's file name; runtimes take the first file in name order.
    #[arg(long, default_value = "10-cloudnet.conflist")]
    pub conflist_name: String,
    /// ipamd's socket as the host sees it (the plugin runs on the host).
    #[arg(long, default_value = "/run/cloudnet/ipamd/ipamd.sock")]
    pub socket: PathBuf,
    /// The pods' MTU.
    #[arg(long, default_value_t = 9001)]
    pub mtu: u32,
    /// How long the plugin waits for ipamd (milliseconds).
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Chain the portmap plugin (hostPort) after cloudnet-cni.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub portmap: bool,
}

/// What [`install`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub plugin: PathBuf,
    pub conflist: PathBuf,
}

/// The network configuration list for `args`. Its cloudnet-cni entry is checked with the
/// plugin's own parser, so a bad MTU or timeout fails here, at install, not at the first pod.
pub fn conflist(args: &InstallArgs) -> Result<Value, String> {
    let version = super::SPEC_VERSION;
    let plugin = json!({
        "type": PLUGIN_NAME,
        "socket": args.socket,
        "timeoutMs": args.timeout_ms,
        "mtu": args.mtu,
    });
    // What the runtime hands the plugin: the entry with the list's version and name.
    let mut as_run = plugin.clone();
    as_run["cniVersion"] = json!(version);
    as_run["name"] = json!(NETWORK_NAME);
    NetConf::parse(as_run.to_string().as_bytes()).map_err(|e| e.to_json(version).to_string())?;
    let mut plugins = vec![plugin];
    if args.portmap {
        plugins.push(json!({ "type": "portmap", "capabilities": { "portMappings": true } }));
    }
    Ok(json!({ "cniVersion": version, "name": NETWORK_NAME, "plugins": plugins }))
}

/// Copies `exe` to `<bin-dir>/cloudnet-cni` and writes the conflist into `<conf-dir>`.
pub fn install(args: &InstallArgs, exe: &Path) -> Result<Installed, String> {
    let list = conflist(args)?;
    if args.conflist_name.contains('/') || !args.conflist_name.ends_with(".conflist") {
        return Err(format!(
            "--conflist-name must be a file name ending in .conflist, not {:?}",
            args.conflist_name
        ));
    }
    let binary = std::fs::read(exe).map_err(|e| format!("read {}: {e}", exe.display()))?;
    let plugin = args.bin_dir.join(PLUGIN_NAME);
    write_atomically(&plugin, &binary, 0o755)?;
    let conflist = args.conf_dir.join(&args.conflist_name);
    let mut text = serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?;
    text.push('\n');
    write_atomically(&conflist, text.as_bytes(), 0o644)?;
    Ok(Installed { plugin, conflist })
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no directory", path.display()))?;
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> InstallArgs {
        let bin = dir.join("bin");
        let conf = dir.join("conf");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&conf).unwrap();
        InstallArgs::try_parse_from([
            "install",
            &format!("--bin-dir={}", bin.display()),
            &format!("--conf-dir={}", conf.display()),
            "--socket=/run/x/ipamd.sock",
            "--mtu=1500",
            "--portmap=false",
        ])
        .unwrap()
    }

    #[test]
    fn installs_the_plugin_and_a_conflist_the_plugin_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("exe");
        std::fs::write(&exe, b"#!plugin bytes").unwrap();
        let a = args(dir.path());
        let done = install(&a, &exe).unwrap();
        assert_eq!(std::fs::read(&done.plugin).unwrap(), b"#!plugin bytes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&done.plugin)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        let list: Value = serde_json::from_slice(&std::fs::read(&done.conflist).unwrap()).unwrap();
        assert_eq!(list["name"], "cloudnet");
        let plugins = list["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 1, "no portmap when --portmap=false: {list}");
        let mut entry = plugins[0].clone();
        entry["cniVersion"] = list["cniVersion"].clone();
        entry["name"] = list["name"].clone();
        let conf = NetConf::parse(entry.to_string().as_bytes()).unwrap();
        assert_eq!(conf.socket, PathBuf::from("/run/x/ipamd.sock"));
        assert_eq!(conf.mtu, 1500);
        // Nothing but the two files: the temporary files were renamed.
        let count = |d: &Path| std::fs::read_dir(d).unwrap().count();
        assert_eq!(count(&a.bin_dir) + count(&a.conf_dir), 2);
        // Again over the installed files (a restarted init container).
        install(&a, &exe).unwrap();
        assert_eq!(count(&a.bin_dir) + count(&a.conf_dir), 2);
    }

    #[test]
    fn portmap_is_chained_by_default() {
        let a = InstallArgs::try_parse_from(["install"]).unwrap();
        let list = conflist(&a).unwrap();
        let types: Vec<_> = list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(types, ["cloudnet-cni", "portmap"]);
    }

    #[test]
    fn a_bad_configuration_fails_at_install() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(dir.path());
        a.mtu = 20;
        let e = install(&a, &dir.path().join("exe")).unwrap_err();
        assert!(e.contains("mtu 20 is out of range"), "{e}");
        assert_eq!(std::fs::read_dir(&a.conf_dir).unwrap().count(), 0);
        let mut a = args(dir.path());
        a.bin_dir = dir.path().join("missing");
        std::fs::write(dir.path().join("exe"), b"x").unwrap();
        let e = install(&a, &dir.path().join("exe")).unwrap_err();
        assert!(e.contains("is not a directory"), "{e}");
        assert!(InstallArgs::try_parse_from(["install", "--mtu-size=1"]).is_err());
    }
}
