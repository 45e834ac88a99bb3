//! The CNI wire formats: environment, network configuration, results and errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::PodRef;

/// Error codes of the CNI spec (and one of this plugin's own, from 100 up).
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE_FAILURE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const NOT_AVAILABLE: u32 = 50;
    /// CHECK found the attachment different from what ADD made.
    pub const CHECK_MISMATCH: u32 = 100;
}

/// The spec's error result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// The JSON the plugin prints on stdout.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut v =
            serde_json::json!({ "cniVersion": cni_version, "code": self.code, "msg": self.msg });
        if !self.details.is_empty() {
            v["details"] = Value::String(self.details.clone());
        }
        v
    }
}

impl std::fmt::Display for CniError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code {}: {}", self.code, self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

/// What the runtime passes in `CNI_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub command: Command,
    pub container_id: Option<String>,
    pub netns: Option<PathBuf>,
    pub ifname: Option<String>,
    /// `CNI_ARGS`, `K=V;K=V`.
    pub args: BTreeMap<String, String>,
    pub path: Option<String>,
}

impl Env {
    /// Reads the variables through `get` (the process environment in the binary).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        let command = match non_empty("CNI_COMMAND").as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("VERSION") => Command::Version,
            Some("STATUS") => Command::Status,
            Some("GC") => Command::Gc,
            Some(other) => {
                return Err(CniError::new(
                    code::INVALID_ENV,
                    format!(
                        "CNI_COMMAND {other:?} is not one of ADD, DEL, CHECK, VERSION, STATUS, GC"
                    ),
                ));
            }
            None => return Err(CniError::new(code::INVALID_ENV, "CNI_COMMAND is not set")),
        };
        let mut args = BTreeMap::new();
        for pair in non_empty("CNI_ARGS")
            .unwrap_or_default()
            .split(';')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CniError::new(
                    code::INVALID_ENV,
                    format!("CNI_ARGS entry {pair:?} is not K=V"),
                )
            })?;
            args.insert(k.to_string(), v.to_string());
        }
        let env = Env {
            command,
            container_id: non_empty("CNI_CONTAINERID"),
            netns: non_empty("CNI_NETNS").map(PathBuf::from),
            ifname: non_empty("CNI_IFNAME"),
            args,
            path: non_empty("CNI_PATH"),
        };
        let need = |ok: bool, var: &str| {
            if ok {
                Ok(())
            } else {
                Err(CniError::new(
                    code::INVALID_ENV,
                    format!("{var} is required for this command"),
                ))
            }
        };
        match command {
            Command::Add | Command::Check => {
                need(env.container_id.is_some(), "CNI_CONTAINERID")?;
                need(env.netns.is_some(), "CNI_NETNS")?;
                need(env.ifname.is_some(), "CNI_IFNAME")?;
            }
            Command::Del => {
                need(env.container_id.is_some(), "CNI_CONTAINERID")?;
                need(env.ifname.is_some(), "CNI_IFNAME")?;
            }
            Command::Version | Command::Status | Command::Gc => {}
        }
        if let Some(i) = &env.ifname
            && (i.len() > 15 || i.contains('/') || i.contains(char::is_whitespace))
        {
            return Err(CniError::new(
                code::INVALID_ENV,
                format!("CNI_IFNAME {i:?} is not a valid interface name"),
            ));
        }
        Ok(env)
    }

    /// The pod's namespace, name and UID from the kubelet's `CNI_ARGS`.
    pub fn pod(&self) -> PodRef {
        let arg = |k: &str| self.args.get(k).cloned().unwrap_or_default();
        PodRef::new(
            arg("K8S_POD_NAMESPACE"),
            arg("K8S_POD_NAME"),
            arg("K8S_POD_UID"),
        )
    }
}

/// One entry of `cni.dev/valid-attachments` (GC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// The network configuration on stdin.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// ipamd's socket.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// How long to wait for ipamd before answering "try again later".
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    #[serde(default)]
    pub prev_result: Option<Value>,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<ValidAttachment>>,
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/cloudnet/ipamd/ipamd.sock")
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_mtu() -> u32 {
    // The VPC's jumbo frames; pods on AWS get the ENI's MTU.
    9001
}

impl NetConf {
    pub fn parse(stdin: &[u8]) -> Result<NetConf, CniError> {
        let conf: NetConf = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                code::DECODE_FAILURE,
                "the network configuration is not valid JSON for this plugin",
            )
            .with_details(e.to_string())
        })?;
        if !super::SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
            return Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!(
                    "cniVersion {} is not supported; supported: {}",
                    conf.cni_version,
                    super::SUPPORTED_VERSIONS.join(", ")
                ),
            ));
        }
        if conf.name.is_empty() {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                "the network configuration has no name",
            ));
        }
        if !(68..=65535).contains(&conf.mtu) {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!("mtu {} is out of range 68..=65535", conf.mtu),
            ));
        }
        if conf.timeout_ms == 0 {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                "timeoutMs must be above 0",
            ));
        }
        Ok(conf)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The spec's success result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

impl CniResult {
    /// Appends `ours` to a result an earlier plugin in the chain produced, renumbering our
    /// interface references.
    pub fn chain(prev: Option<&Value>, ours: CniResult) -> Result<CniResult, CniError> {
        let Some(prev) = prev else {
            return Ok(ours);
        };
        let mut merged: CniResult = serde_json::from_value(prev.clone()).map_err(|e| {
            CniError::new(code::DECODE_FAILURE, "prevResult is not a CNI result")
                .with_details(e.to_string())
        })?;
        let offset = merged.interfaces.len();
        merged.interfaces.extend(ours.interfaces);
        merged.ips.extend(ours.ips.into_iter().map(|mut ip| {
            ip.interface = ip.interface.map(|i| i + offset);
            ip
        }));
        merged.routes.extend(ours.routes);
        merged.cni_version = ours.cni_version;
        if merged.dns.is_null() {
            merged.dns = ours.dns;
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn environment_is_read_and_checked_per_command() {
        let e = Env::from_vars(vars(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc"),
            ("CNI_NETNS", "/var/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            (
                "CNI_ARGS",
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;K8S_POD_UID=0b5f-11",
            ),
        ]))
        .unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.pod(), PodRef::new("default", "web-1", "0b5f-11"));

        let missing = Env::from_vars(vars(&[("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "abc")]))
            .unwrap_err();
        assert_eq!(missing.code, code::INVALID_ENV);
        assert!(missing.msg.contains("CNI_NETNS"), "{missing}");

        // DEL without a netns (the runtime already removed it) is fine.
        assert!(
            Env::from_vars(vars(&[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "a"),
                ("CNI_IFNAME", "eth0")
            ]))
            .is_ok()
        );
        assert_eq!(
            Env::from_vars(vars(&[("CNI_COMMAND", "FROB")]))
                .unwrap_err()
                .code,
            code::INVALID_ENV
        );
        assert_eq!(
            Env::from_vars(vars(&[])).unwrap_err().code,
            code::INVALID_ENV
        );
        let long = Env::from_vars(vars(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "a"),
            ("CNI_IFNAME", "averyveryverylongname"),
        ]));
        assert_eq!(long.unwrap_err().code, code::INVALID_ENV);
        let bad_args = Env::from_vars(vars(&[("CNI_COMMAND", "VERSION"), ("CNI_ARGS", "novalue")]));
        assert_eq!(bad_args.unwrap_err().code, code::INVALID_ENV);
    }

    #[test]
    fn configuration_is_validated() {
        let ok = NetConf::parse(br#"{"cniVersion":"1.1.0","name":"pods","type":"cloudnet-cni"}"#)
            .unwrap();
        assert_eq!(ok.mtu, 9001);
        assert_eq!(ok.timeout(), Duration::from_secs(5));
        let old = NetConf::parse(br#"{"cniVersion":"0.3.1","name":"pods","type":"cloudnet-cni"}"#);
        assert_eq!(old.unwrap_err().code, code::INCOMPATIBLE_VERSION);
        assert_eq!(
            NetConf::parse(b"{not json").unwrap_err().code,
            code::DECODE_FAILURE
        );
        let mtu = NetConf::parse(br#"{"cniVersion":"1.1.0","name":"p","type":"t","mtu":10}"#);
        assert_eq!(mtu.unwrap_err().code, code::INVALID_CONFIG);
        let gc = NetConf::parse(
            br#"{"cniVersion":"1.1.0","name":"p","type":"t","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(gc.valid_attachments.unwrap()[0].container_id, "a");
    }

    #[test]
    fn results_chain_after_an_earlier_plugin() {
        let prev = serde_json::json!({
            "cniVersion": "1.1.0",
            "interfaces": [{"name": "other0"}],
            "ips": [{"address": "192.168.0.2/24", "interface": 0}],
            "dns": {"nameservers": ["10.96.0.10"]}
        });
        let ours = CniResult {
            cni_version: "1.1.0".into(),
            interfaces: vec![
                Interface {
                    name: "cnetx".into(),
                    ..Default::default()
                },
                Interface {
                    name: "eth0".into(),
                    ..Default::default()
                },
            ],
            ips: vec![IpConfig {
                address: "10.0.0.5/32".into(),
                gateway: Some("169.254.1.1".into()),
                interface: Some(1),
            }],
            routes: vec![Route {
                dst: "0.0.0.0/0".into(),
                gw: Some("169.254.1.1".into()),
            }],
            dns: serde_json::json!({}),
        };
        let r = CniResult::chain(Some(&prev), ours).unwrap();
        assert_eq!(r.interfaces.len(), 3);
        assert_eq!(r.ips[1].interface, Some(2));
        assert_eq!(r.dns["nameservers"][0], "10.96.0.10");
        assert_eq!(
            CniResult::chain(Some(&serde_json::json!(5)), CniResult::default())
                .unwrap_err()
                .code,
            code::DECODE_FAILURE
        );
    }

    #[test]
    fn errors_print_in_the_spec_format() {
        let e = CniError::new(code::TRY_AGAIN_LATER, "ipamd is not reachable")
            .with_details("connect: no such file");
        assert_eq!(
            e.to_json("1.1.0"),
            serde_json::json!({"cniVersion": "1.1.0", "code": 11, "msg": "ipamd is not reachable", "details": "connect: no such file"})
        );
    }
}
