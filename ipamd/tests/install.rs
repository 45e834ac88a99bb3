//! `cloudnet-cni install`, the node DaemonSet's init container, run as the binary: the plugin
//! it copies is this binary and answers the runtime's VERSION call, and the conflist it writes
//! is one the container runtime takes.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn install_copies_a_working_plugin_and_writes_its_conflist() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, conf) = (dir.path().join("bin"), dir.path().join("net.d"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    let exe = env!("CARGO_BIN_EXE_cloudnet-cni");
    let out = Command::new(exe)
        .arg("install")
        .arg(format!("--bin-dir={}", bin.display()))
        .arg(format!("--conf-dir={}", conf.display()))
        .args(["--socket=/run/cloudnet/ipamd/ipamd.sock", "--mtu=9001"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plugin = bin.join("cloudnet-cni");
    assert_eq!(std::fs::read(&plugin).unwrap(), std::fs::read(exe).unwrap());

    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(conf.join("10-cloudnet.conflist")).unwrap()).unwrap();
    assert_eq!(list["plugins"][0]["type"], "cloudnet-cni");
    assert_eq!(list["plugins"][1]["type"], "portmap");

    // The runtime's VERSION call on the installed copy, with the conflist's entry on stdin.
    let mut entry = list["plugins"][0].clone();
    entry["cniVersion"] = list["cniVersion"].clone();
    entry["name"] = list["name"].clone();
    let mut child = Command::new(&plugin)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(entry.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        version["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&list["cniVersion"]),
        "{version}"
    );

    // A bad flag is refused with clap's message and writes nothing more.
    let out = Command::new(exe)
        .args(["install", "--mtu-size=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mtu-size"));
}
