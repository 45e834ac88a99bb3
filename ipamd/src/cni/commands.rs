//! The six CNI verbs.
//!
//! ADD asks ipamd first and builds the pod's network second, releasing the address again if
//! the network cannot be built. DEL tears the network down first and releases second, so
//! an address is never free while a veth still routes to it; both steps succeed when there
//! is nothing to remove.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::types::{CniError, CniResult, Command, Env, Interface, IpConfig, NetConf, Route, code};
use super::{SPEC_VERSION, SUPPORTED_VERSIONS};
use crate::error::Error;
use crate::netlink::{self, GATEWAY};
use crate::rpc::Client;

/// Runs one invocation; the result is what the plugin prints on stdout.
pub async fn run(env: &Env, stdin: &[u8]) -> Result<Value, CniError> {
    if env.command == Command::Version {
        return Ok(version());
    }
    let conf = NetConf::parse(stdin)?;
    match env.command {
        Command::Add => add(env, &conf).await,
        Command::Del => del(env, &conf).await.map(|()| Value::Null),
        Command::Check => check(env, &conf).await.map(|()| Value::Null),
        Command::Status => status(&conf).await.map(|()| Value::Null),
        Command::Gc => gc(&conf).await.map(|()| Value::Null),
        Command::Version => Ok(version()),
    }
}

fn version() -> Value {
    json!({ "cniVersion": SPEC_VERSION, "supportedVersions": SUPPORTED_VERSIONS })
}

/// ipamd's failures as the runtime should see them: anything that a later retry can fix
/// is "try again later".
fn ipamd_error(e: Error) -> CniError {
    let chain = chain(&e);
    match &e {
        Error::Timeout(_) | Error::Transport(_) => {
            CniError::new(code::TRY_AGAIN_LATER, "ipamd is not reachable").with_details(chain)
        }
        Error::Rpc(s) => match s.code() {
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown => {
                CniError::new(code::TRY_AGAIN_LATER, "ipamd is not available").with_details(chain)
            }
            tonic::Code::ResourceExhausted => CniError::new(
                code::TRY_AGAIN_LATER,
                "no free pod address on this node yet",
            )
            .with_details(s.message()),
            tonic::Code::InvalidArgument => {
                CniError::new(code::INVALID_ENV, s.message().to_string())
            }
            _ => CniError::new(code::IO_FAILURE, "ipamd failed").with_details(chain),
        },
        _ => CniError::new(code::IO_FAILURE, "ipamd failed").with_details(chain),
    }
}

fn netlink_error(what: &str, e: Error) -> CniError {
    CniError::new(code::IO_FAILURE, what.to_string()).with_details(chain(&e))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

async fn client(conf: &NetConf) -> Result<Client, CniError> {
    Client::connect(&conf.socket, conf.timeout())
        .await
        .map_err(ipamd_error)
}

fn required<'a>(v: &'a Option<String>, var: &str) -> Result<&'a str, CniError> {
    v.as_deref()
        .ok_or_else(|| CniError::new(code::INVALID_ENV, format!("{var} is required")))
}

/// The attachment ADD and CHECK act on: container ID, interface name and netns path.
fn attachment(env: &Env) -> Result<(&str, &str, &std::path::Path), CniError> {
    Ok((
        required(&env.container_id, "CNI_CONTAINERID")?,
        required(&env.ifname, "CNI_IFNAME")?,
        env.netns
            .as_deref()
            .ok_or_else(|| CniError::new(code::INVALID_ENV, "CNI_NETNS is required"))?,
    ))
}

async fn add(env: &Env, conf: &NetConf) -> Result<Value, CniError> {
    let (container, ifname, netns) = attachment(env)?;
    if !netns.exists() {
        return Err(CniError::new(
            code::INVALID_ENV,
            format!("network namespace {} does not exist", netns.display()),
        ));
    }
    let pod = env.pod();
    // With no free address yet, ipamd holds the call for half the timeout and answers as
    // soon as the pool grows; then "try again later" as before.
    let mut c = client(conf).await?.with_address_wait(conf.timeout() / 2);
    let addr = c
        .allocate_pod(container, ifname, &pod)
        .await
        .map_err(ipamd_error)?;
    let ip: Ipv4Addr = addr.address.parse().map_err(|_| {
        CniError::new(
            code::IO_FAILURE,
            format!("ipamd answered an invalid address {:?}", addr.address),
        )
    })?;
    let link = match netlink::setup(netns, container, ifname, ip, conf.mtu).await {
        Ok(l) => l,
        Err(e) => {
            let err = netlink_error("building the pod network failed", e);
            // Leave nothing behind: the runtime will retry ADD or call DEL.
            let _ = netlink::teardown(Some(netns), container, ifname).await;
            let _ = c.release_pod(container, ifname, &pod).await;
            return Err(err);
        }
    };
    let ours = CniResult {
        cni_version: conf.cni_version.clone(),
        interfaces: vec![
            Interface {
                name: link.host_ifname,
                mac: netlink::format_mac(&link.host_mac),
                mtu: Some(conf.mtu),
                sandbox: None,
            },
            Interface {
                name: link.pod_ifname,
                mac: netlink::format_mac(&link.pod_mac),
                mtu: Some(conf.mtu),
                sandbox: Some(netns.display().to_string()),
            },
        ],
        ips: vec![IpConfig {
            address: format!("{ip}/32"),
            gateway: Some(GATEWAY.to_string()),
            interface: Some(1),
        }],
        routes: vec![Route {
            dst: "0.0.0.0/0".into(),
            gw: Some(GATEWAY.to_string()),
        }],
        dns: json!({}),
    };
    let result = CniResult::chain(conf.prev_result.as_ref(), ours)?;
    serde_json::to_value(result)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("encode result: {e}")))
}

async fn del(env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let container = required(&env.container_id, "CNI_CONTAINERID")?;
    let ifname = required(&env.ifname, "CNI_IFNAME")?;
    netlink::teardown(env.netns.as_deref(), container, ifname)
        .await
        .map_err(|e| netlink_error("removing the pod network failed", e))?;
    let pod = env.pod();
    let mut c = client(conf).await?;
    c.release_pod(container, ifname, &pod)
        .await
        .map_err(ipamd_error)?;
    Ok(())
}

async fn check(env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let (container, ifname, netns) = attachment(env)?;
    let prev: CniResult = conf
        .prev_result
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            CniError::new(code::DECODE_FAILURE, "prevResult is not a CNI result")
                .with_details(e.to_string())
        })?
        .ok_or_else(|| CniError::new(code::INVALID_CONFIG, "CHECK needs prevResult"))?;
    let mut c = client(conf).await?;
    let held = c
        .check(container, ifname)
        .await
        .map_err(ipamd_error)?
        .ok_or_else(|| {
            CniError::new(
                code::CHECK_MISMATCH,
                format!("ipamd holds no address for {container}/{ifname}"),
            )
        })?;
    let want = format!("{}/32", held.address);
    if !prev.ips.iter().any(|i| i.address == want) {
        return Err(CniError::new(
            code::CHECK_MISMATCH,
            format!("prevResult does not carry {want}, the address ipamd holds"),
        ));
    }
    let ip: Ipv4Addr = held.address.parse().map_err(|_| {
        CniError::new(
            code::IO_FAILURE,
            format!("ipamd answered an invalid address {:?}", held.address),
        )
    })?;
    netlink::verify(netns, container, ifname, ip)
        .await
        .map_err(|e| {
            CniError::new(
                code::CHECK_MISMATCH,
                "the pod network is not as ADD made it",
            )
            .with_details(chain(&e))
        })
}

async fn status(conf: &NetConf) -> Result<(), CniError> {
    let mut c = Client::connect(&conf.socket, conf.timeout())
        .await
        .map_err(|e| {
            CniError::new(code::NOT_AVAILABLE, "ipamd is not reachable").with_details(chain(&e))
        })?;
    let s = c.status().await.map_err(|e| {
        CniError::new(code::NOT_AVAILABLE, "ipamd is not reachable").with_details(chain(&e))
    })?;
    if !s.synced {
        return Err(CniError::new(
            code::NOT_AVAILABLE,
            "ipamd has not synced its pool yet",
        ));
    }
    if s.free == 0 {
        return Err(CniError::new(
            code::NOT_AVAILABLE,
            format!(
                "no free pod address ({} assigned, {} cooling)",
                s.assigned, s.cooling
            ),
        ));
    }
    Ok(())
}

async fn gc(conf: &NetConf) -> Result<(), CniError> {
    let valid: Vec<(String, String)> = conf
        .valid_attachments
        .iter()
        .flatten()
        .map(|a| (a.container_id.clone(), a.ifname.clone()))
        .collect();
    // Host ends of attachments the runtime no longer knows (an ADD cut short by a crash).
    let keep: BTreeSet<String> = valid
        .iter()
        .map(|(c, i)| netlink::host_ifname(c, i))
        .collect();
    let leftovers = netlink::links_with_prefix(netlink::HOST_PREFIX)
        .await
        .map_err(|e| netlink_error("listing host interfaces failed", e))?;
    for name in leftovers.iter().filter(|n| !keep.contains(*n)) {
        netlink::delete_link_named(name)
            .await
            .map_err(|e| netlink_error("removing a stale host interface failed", e))?;
    }
    let mut c = client(conf).await?;
    c.gc(&valid).await.map_err(ipamd_error)?;
    Ok(())
}
