//! The chart's rendered arguments parsed by the binaries' own parsers (`cloudnet_controllers::flags`,
//! `cloudnet_ipamd::flags`, `cloudnet_ipamd::cni::install`): a flag the chart passes and a binary
//! does not take fails here.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use serde_json::Value;

use super::{container, find, helm, renders, repo};

/// The rendered `env` (literal values, and what the downward API fills in), as the flags those
/// variables set.
pub(super) fn env_as_flags(container: &Value, cmd: &clap::Command) -> Vec<String> {
    let mut flags = Vec::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|v| v == name))
            .unwrap_or_else(|| panic!("{} reads no {name}", cmd.get_name()));
        let value = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            None if e["value"].is_string() => e["value"].as_str().unwrap(),
            Some("metadata.namespace") => "kube-system",
            Some("metadata.name") => "cloudnet-controller-5d8f9-abcde",
            Some("spec.nodeName") => "ip-10-0-0-10.us-west-2.compute.internal",
            other => panic!("{name}: unexpected source {other:?}"),
        };
        flags.push(format!("--{}={value}", arg.get_long().unwrap()));
    }
    flags
}

pub(super) fn args_of(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_rendered_flags_are_the_binaries_flags() {
    use cloudnet_controllers::flags::Args as ControllerArgs;
    use cloudnet_ipamd::cni::install::{self, InstallArgs};
    use cloudnet_ipamd::flags::Args as IpamdArgs;
    let Some(helm) = helm() else { return };
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for (name, docs) in renders(&helm) {
        let deploy = find(&docs, "Deployment", "cloudnet-controller");
        let c = container(deploy, "containers", "controller");
        let binary = c["command"][0].as_str().unwrap();
        assert_eq!(binary, "/usr/local/bin/cloudnet-controller");
        assert!(dockerfile.contains(binary), "the image has {binary}");
        let mut argv = vec!["cloudnet-controller".to_string()];
        argv.extend(args_of(c));
        argv.extend(env_as_flags(c, &ControllerArgs::command()));
        let parsed = ControllerArgs::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{name}: the controller refuses the chart's flags: {e}"));
        let settings = parsed
            .settings()
            .unwrap_or_else(|e| panic!("{name}: the controller refuses the chart's settings: {e}"));
        let election = settings.election.as_ref().expect("leader election");
        assert_eq!(
            (election.namespace.as_str(), election.lease_name.as_str()),
            ("kube-system", "cloudnet-controller")
        );
        assert_eq!(settings.ipam.is_some(), name != "routes", "{name}");
        assert_eq!(settings.routes.is_some(), name == "routes", "{name}");
        assert_eq!(settings.ingress.is_some(), name != "routes", "{name}");
        assert!(settings.service.is_some() && settings.target_group_binding.is_some());
        if name == "eks" {
            let ipam = settings.ipam.as_ref().unwrap();
            assert_eq!(
                (ipam.knobs.warm_ip_target, ipam.knobs.minimum_ip_target),
                (5, 10)
            );
            assert_eq!(parsed.vpc_id.as_deref(), Some("vpc-0a1b2c3d4e5f67890"));
        }
        // A renamed flag fails: the check has teeth.
        let renamed: Vec<String> = argv
            .iter()
            .map(|a| a.replace("--enable-service-controller=", "--enable-services="))
            .collect();
        assert!(ControllerArgs::try_parse_from(&renamed).is_err());

        let Some(ds) = docs.iter().find(|o| o["kind"] == "DaemonSet") else {
            assert_eq!(name, "routes");
            continue;
        };
        let ipamd = container(ds, "containers", "ipamd");
        assert!(dockerfile.contains(ipamd["command"][0].as_str().unwrap()));
        let mut argv = vec!["cloudnet-ipamd".to_string()];
        argv.extend(args_of(ipamd));
        argv.extend(env_as_flags(ipamd, &IpamdArgs::command()));
        let parsed = IpamdArgs::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{name}: ipamd refuses the chart's flags: {e}"));
        assert_eq!(parsed.node_name, "ip-10-0-0-10.us-west-2.compute.internal");
        assert_eq!(
            parsed.socket,
            PathBuf::from("/run/cloudnet/ipamd/ipamd.sock")
        );
        assert_eq!(parsed.introspection.ip().to_string(), "127.0.0.1");
        // The probes reach the introspection address ipamd serves.
        assert_eq!(
            ipamd["readinessProbe"]["httpGet"]["port"],
            parsed.introspection.port()
        );
        assert_eq!(ipamd["readinessProbe"]["httpGet"]["host"], "127.0.0.1");
        // The socket's directory is the hostPath the container mounts.
        let mounts: Vec<&str> = ipamd["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert!(mounts.contains(&parsed.socket.parent().unwrap().to_str().unwrap()));
        assert!(mounts.contains(&parsed.checkpoint.parent().unwrap().to_str().unwrap()));
        if name == "eks" {
            assert_eq!(parsed.warm_ip_target, Some(5));
        }

        let init = container(ds, "initContainers", "install-cni");
        assert_eq!(init["command"][0], "/usr/local/bin/cloudnet-cni");
        assert!(dockerfile.contains("/usr/local/bin/cloudnet-cni"));
        let args = args_of(init);
        assert_eq!(args[0], "install");
        let parsed = InstallArgs::try_parse_from(&args).unwrap_or_else(|e| {
            panic!("{name}: cloudnet-cni install refuses the chart's flags: {e}")
        });
        let list = install::conflist(&parsed).unwrap();
        // The plugin, run by the runtime on the host, dials the socket ipamd listens on.
        assert_eq!(
            list["plugins"][0]["socket"],
            "/run/cloudnet/ipamd/ipamd.sock"
        );
        assert_eq!(
            (parsed.bin_dir.as_path(), parsed.conf_dir.as_path()),
            (
                Path::new("/host/opt/cni/bin"),
                Path::new("/host/etc/cni/net.d")
            )
        );
    }
}

/// The controller's probes hit the endpoints its server serves: `/healthz` answers while the
/// process runs, `/readyz` only once every controller is ready.
#[tokio::test]
async fn the_controller_probes_are_served_by_the_controller() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use cloudnet_controllers::server::{Health, serve};
    let Some(helm) = helm() else { return };
    let docs = renders(&helm).remove(0).1;
    let c = container(
        find(&docs, "Deployment", "cloudnet-controller"),
        "containers",
        "controller",
    );
    let (live, ready) = super::probe_paths(c);
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http-metrics");
    assert_eq!(c["ports"][0]["name"], "http-metrics");

    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let health = Health::new(Default::default(), vec![("service".into(), flag.clone())]);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(addr, health, async {
        let _ = stop_rx.await;
    }));
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(up, "the controller's server did not listen on {addr}");
    assert_eq!(super::http_status(addr, &live).await, 200);
    assert_eq!(super::http_status(addr, &ready).await, 503, "not ready yet");
    flag.store(true, Ordering::Relaxed);
    assert_eq!(super::http_status(addr, &ready).await, 200);
    assert_eq!(super::http_status(addr, "/metrics").await, 200);
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
