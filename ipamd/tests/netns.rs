//! cloudnet-cni in real network namespaces, against an in-process ipamd. Needs root and
//! `ipamd/scripts/setup-netns-tests.sh` (iproute2 for `ip netns add`, portmap). The tests
//! share the host namespace (host veths and routes), so they run one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloudnet_crds::node_network::{BlockStatus, InterfaceStatus, NodeNetworkStatus};
use cloudnet_ipamd::checkpoint::Writer;
use cloudnet_ipamd::core::{Core, now_ms};
use cloudnet_ipamd::metrics::Metrics;
use cloudnet_ipamd::pool::{MetadataInterface, agree};
use cloudnet_ipamd::recovery::recover;
use cloudnet_ipamd::{Client, netlink, rpc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static HOST: Mutex<()> = Mutex::const_new(());
static SEQ: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Self {
        let name = unique("cnitest");
        ip(&["netns", "add", &name]);
        Netns { name }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        ip(&a)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// ipamd's gRPC server over a checkpoint in a temporary directory, with a fixed pool.
struct Ipamd {
    dir: tempfile::TempDir,
    socket: PathBuf,
    core: Core,
    server: tokio::task::JoinHandle<()>,
    cidr: String,
}

fn agreement(cidr: &str) -> cloudnet_ipamd::pool::Agreement {
    let status = NodeNetworkStatus {
        interfaces: vec![InterfaceStatus {
            id: "eni-test".into(),
            index: 1,
            subnet_id: "subnet-test".into(),
            blocks: vec![BlockStatus {
                cidr: cidr.parse().unwrap(),
                kind: "prefix".into(),
                primary: false,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let md = MetadataInterface {
        mac: "02:00:00:00:00:01".into(),
        interface_id: "eni-test".into(),
        device_number: Some(1),
        local_ipv4s: vec![],
        ipv4_prefixes: vec![cidr.parse().unwrap()],
    };
    agree(&status, &[md])
}

impl Ipamd {
    async fn start(cidr: &str, cooldown_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, cidr, cooldown_ms).await
    }

    /// (Re)starts on whatever checkpoint `dir` holds.
    async fn start_in(dir: tempfile::TempDir, cidr: &str, cooldown_ms: u64) -> Self {
        let socket = dir.path().join("run/ipamd.sock");
        let checkpoint = dir.path().join("lib/ipam.json");
        let startup = recover(&checkpoint, cooldown_ms, &[], now_ms()).expect("recover");
        let core = Core::new(
            startup.state,
            Writer::new(&checkpoint).unwrap(),
            std::sync::Arc::new(Metrics::default()),
        )
        .unwrap();
        core.sync(agreement(cidr), &[], None).await.unwrap();
        let listener = rpc::bind(&socket).await.expect("bind");
        let c = core.clone();
        let server = tokio::spawn(async move {
            let _ = rpc::serve(listener, c, std::future::pending()).await;
        });
        Ipamd {
            dir,
            socket,
            core,
            server,
            cidr: cidr.into(),
        }
    }

    /// Stops serving abruptly, as a killed process would; the checkpoint stays.
    async fn kill(self) -> tempfile::TempDir {
        self.server.abort();
        let _ = self.server.await;
        self.dir
    }

    fn conf(&self, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "name": "pods",
            "type": "cloudnet-cni",
            "socket": self.socket,
            "timeoutMs": 1000,
            "mtu": 1500
        })
    }

    fn held(&self) -> BTreeMap<String, Ipv4Addr> {
        self.core
            .lock()
            .state
            .allocations()
            .map(|a| (a.key.container_id.clone(), a.address))
            .collect()
    }
}

struct Outcome {
    ok: bool,
    out: Value,
    took: Duration,
}

/// Runs a CNI plugin binary as a runtime would.
async fn plugin(
    bin: &Path,
    cmd: &str,
    container: &str,
    netns: Option<&Path>,
    conf: &Value,
) -> Outcome {
    let bin = bin.to_path_buf();
    let cmd = cmd.to_string();
    let container = container.to_string();
    let netns = netns.map(Path::to_path_buf);
    let stdin = serde_json::to_vec(conf).unwrap();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let start = Instant::now();
        let mut c = Command::new(&bin);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CNI_COMMAND", &cmd)
            .env("CNI_CONTAINERID", &container)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .env(
                "CNI_ARGS",
                format!("K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{container}"),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(n) = &netns {
            c.env("CNI_NETNS", n);
        }
        let mut child = c.spawn().expect("spawn plugin");
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().expect("plugin runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!(
                    "{cmd} printed {text:?}: {e}; stderr {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        };
        Outcome {
            ok: out.status.success(),
            out: value,
            took: start.elapsed(),
        }
    })
    .await
    .unwrap()
}

fn cni() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cloudnet-cni"))
}

fn with_prev(conf: &Value, prev: &Value) -> Value {
    let mut c = conf.clone();
    c["prevResult"] = prev.clone();
    c
}

/// Our plugin's CHECK of `container` in `ns` against the previous result `prev`.
async fn cni_check(container: &str, ns: &Netns, conf: &Value, prev: &Value) -> Outcome {
    let conf = with_prev(conf, prev);
    plugin(&cni(), "CHECK", container, Some(&ns.path()), &conf).await
}

/// Host links this plugin made and host /32 routes into `cidr`.
async fn host_leftovers(cidr: &str) -> (Vec<String>, Vec<String>) {
    let links = netlink::links_with_prefix(netlink::HOST_PREFIX)
        .await
        .unwrap();
    let routes: Vec<String> = ip(&["-4", "route", "show", "match", cidr])
        .lines()
        .filter(|l| l.contains("cnet"))
        .map(str::to_string)
        .collect();
    (links, routes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_check_del_build_and_remove_the_pod_network() {
    let _host = HOST.lock().await;
    let ipamd = Ipamd::start("10.99.1.0/28", 30_000).await;
    let ns = Netns::new();
    let conf = ipamd.conf("1.1.0");
    let c = unique("c");

    let add = plugin(&cni(), "ADD", &c, Some(&ns.path()), &conf).await;
    assert!(add.ok, "ADD: {}", add.out);
    assert_eq!(add.out["cniVersion"], "1.1.0");
    assert_eq!(add.out["ips"][0]["address"], "10.99.1.0/32");
    assert_eq!(add.out["ips"][0]["gateway"], "169.254.1.1");
    assert_eq!(add.out["interfaces"][1]["name"], "eth0");
    let host_if = add.out["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();

    // The pod side, as the kernel reports it.
    let addr = ns.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains("inet 10.99.1.0/32"), "{addr}");
    let routes = ns.ip(&["-4", "route", "show"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    let neigh = ns.ip(&["neigh", "show", "169.254.1.1"]);
    assert!(neigh.contains("PERMANENT"), "{neigh}");
    // The host side.
    let host_route = ip(&["-4", "route", "show", "10.99.1.0/32"]);
    assert!(
        host_route.contains(&format!("dev {host_if}")),
        "{host_route}"
    );

    let check = cni_check(&c, &ns, &conf, &add.out).await;
    assert!(check.ok, "CHECK: {}", check.out);

    // CHECK notices what is missing.
    ns.ip(&["route", "del", "default"]);
    let broken = cni_check(&c, &ns, &conf, &add.out).await;
    assert!(!broken.ok);
    assert_eq!(broken.out["code"], 100, "{}", broken.out);
    assert!(
        broken.out["details"]
            .as_str()
            .unwrap()
            .contains("default route"),
        "{}",
        broken.out
    );

    let del = plugin(&cni(), "DEL", &c, Some(&ns.path()), &conf).await;
    assert!(del.ok, "DEL: {}", del.out);
    assert!(ipamd.held().is_empty());
    assert_eq!(host_leftovers(&ipamd.cidr).await, (vec![], vec![]));
    assert!(!ns.ip(&["link", "show"]).contains("eth0"));
    // DEL again, and DEL with the namespace gone: both succeed.
    assert!(plugin(&cni(), "DEL", &c, Some(&ns.path()), &conf).await.ok);
    assert!(
        plugin(
            &cni(),
            "DEL",
            &c,
            Some(Path::new("/var/run/netns/none-such")),
            &conf
        )
        .await
        .ok
    );
    assert!(plugin(&cni(), "DEL", &c, None, &conf).await.ok);

    // STATUS and VERSION.
    let status = plugin(&cni(), "STATUS", "", None, &conf).await;
    assert!(status.ok, "STATUS: {}", status.out);
    let version = plugin(&cni(), "VERSION", "", None, &json!({})).await;
    assert!(version.ok);
    assert_eq!(version.out["supportedVersions"], json!(["1.0.0", "1.1.0"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_add_del_cycles_leave_nothing_behind() {
    let _host = HOST.lock().await;
    // Larger than the cycle count, and a cooldown longer than the test: no address may
    // come back.
    let ipamd = Ipamd::start("10.99.16.0/22", 600_000).await;
    let ns = Netns::new();
    let conf = ipamd.conf("1.1.0");
    let mut seen = BTreeSet::new();
    for i in 0..1000 {
        let c = format!("cycle-{}-{i}", std::process::id());
        let add = plugin(&cni(), "ADD", &c, Some(&ns.path()), &conf).await;
        assert!(add.ok, "ADD {i}: {}", add.out);
        let a = add.out["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(
            seen.insert(a.clone()),
            "cycle {i}: {a} handed out again within its cooldown"
        );
        let del = plugin(&cni(), "DEL", &c, Some(&ns.path()), &conf).await;
        assert!(del.ok, "DEL {i}: {}", del.out);
    }
    assert_eq!(seen.len(), 1000);
    assert!(
        ipamd.held().is_empty(),
        "addresses still held: {:?}",
        ipamd.held()
    );
    assert_eq!(
        host_leftovers(&ipamd.cidr).await,
        (vec![], vec![]),
        "host interfaces or routes left"
    );
    let links = ns.ip(&["-o", "link", "show"]);
    assert_eq!(
        links.lines().count(),
        1,
        "only lo stays in the pod namespace: {links}"
    );
    let addrs = ns.ip(&["-4", "-o", "addr", "show"]);
    assert!(!addrs.contains("10.99."), "{addrs}");
    assert_eq!(
        ns.ip(&["-4", "route", "show"]).trim(),
        "",
        "no routes stay in the pod namespace"
    );
    assert_eq!(ipamd.core.counts().1.cooling, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_with_ipamd_down_fails_fast_with_try_again_later() {
    let _host = HOST.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    let conf = |socket: &Path| json!({"cniVersion": "1.1.0", "name": "pods", "type": "cloudnet-cni", "socket": socket, "timeoutMs": 500});

    // No daemon at all.
    let gone = dir.path().join("none.sock");
    let r = plugin(&cni(), "ADD", "c-down", Some(&ns.path()), &conf(&gone)).await;
    assert!(!r.ok);
    assert_eq!(r.out["code"], 11, "{}", r.out);
    assert!(r.took < Duration::from_secs(3), "took {:?}", r.took);

    // A daemon that accepts connections and never answers.
    let hung = dir.path().join("hung.sock");
    let _listener = tokio::net::UnixListener::bind(&hung).unwrap();
    let r = plugin(&cni(), "ADD", "c-hung", Some(&ns.path()), &conf(&hung)).await;
    assert!(!r.ok);
    assert_eq!(r.out["code"], 11, "{}", r.out);
    assert!(
        r.took >= Duration::from_millis(450),
        "gave up before the timeout: {:?}",
        r.took
    );
    assert!(r.took < Duration::from_secs(3), "took {:?}", r.took);
    assert_eq!(host_leftovers("10.0.0.0/8").await.0, Vec::<String>::new());

    // STATUS says the plugin cannot serve ADDs.
    let s = plugin(&cni(), "STATUS", "", None, &conf(&gone)).await;
    assert_eq!(s.out["code"], 50, "{}", s.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_with_portmap() {
    let portmap = Path::new("/usr/lib/cni/portmap");
    assert!(
        portmap.exists(),
        "run ipamd/scripts/setup-netns-tests.sh first"
    );
    let _host = HOST.lock().await;
    let ipamd = Ipamd::start("10.99.2.0/28", 30_000).await;
    let ns = Netns::new();
    // Debian's plugins speak up to 1.0.0.
    let conf = ipamd.conf("1.0.0");
    let c = unique("pm");
    let add = plugin(&cni(), "ADD", &c, Some(&ns.path()), &conf).await;
    assert!(add.ok, "ADD: {}", add.out);
    let pm_conf = json!({
        "cniVersion": "1.0.0",
        "name": "pods",
        "type": "portmap",
        "capabilities": {"portMappings": true},
        "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]},
        "prevResult": add.out,
    });
    let pm = plugin(portmap, "ADD", &c, Some(&ns.path()), &pm_conf).await;
    assert!(pm.ok, "portmap ADD: {}", pm.out);
    assert_eq!(
        pm.out["ips"], add.out["ips"],
        "portmap passes our result on"
    );
    let nat = Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .expect("iptables-save");
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(nat.contains("10.99.2.0:80"), "DNAT to the pod: {nat}");

    let check = cni_check(&c, &ns, &conf, &pm.out).await;
    assert!(check.ok, "CHECK with portmap's result: {}", check.out);
    let pm_del = plugin(portmap, "DEL", &c, Some(&ns.path()), &pm_conf).await;
    assert!(pm_del.ok, "portmap DEL: {}", pm_del.out);
    let del = plugin(&cni(), "DEL", &c, Some(&ns.path()), &conf).await;
    assert!(del.ok, "DEL: {}", del.out);
    assert!(ipamd.held().is_empty());
    assert_eq!(host_leftovers(&ipamd.cidr).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipamd_killed_during_adds_loses_and_doubles_nothing() {
    let _host = HOST.lock().await;
    let cidr = "10.99.3.0/27";
    let mut ipamd = Ipamd::start(cidr, 30_000).await;
    let namespaces: Vec<Netns> = (0..8).map(|_| Netns::new()).collect();
    let containers: Vec<String> = (0..8).map(|_| unique("kill")).collect();
    for round in 0..4u64 {
        // ADDs in flight while the daemon dies.
        let mut adds = Vec::new();
        for (c, ns) in containers.iter().zip(&namespaces) {
            let conf = ipamd.conf("1.1.0");
            let (c, p) = (c.clone(), ns.path());
            adds.push(tokio::spawn(async move {
                plugin(&cni(), "ADD", &c, Some(&p), &conf).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(5 + round * 7)).await;
        let dir = ipamd.kill().await;
        let mut failed = 0;
        for a in adds {
            let o = a.await.unwrap();
            if !o.ok {
                assert_eq!(o.out["code"], 11, "a failed ADD says try again: {}", o.out);
                failed += 1;
            }
        }
        ipamd = Ipamd::start_in(dir, cidr, 30_000).await;
        // The runtime retries every ADD; each attachment ends with exactly one address.
        let mut got = BTreeMap::new();
        for (c, ns) in containers.iter().zip(&namespaces) {
            let r = plugin(&cni(), "ADD", c, Some(&ns.path()), &ipamd.conf("1.1.0")).await;
            assert!(r.ok, "retried ADD: {}", r.out);
            let a = r.out["ips"][0]["address"].as_str().unwrap().to_string();
            let inside = ns.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
            assert!(inside.contains(&format!("inet {a}")), "{c}: {inside}");
            got.insert(c.clone(), a);
        }
        let held = ipamd.held();
        assert_eq!(
            held.len(),
            containers.len(),
            "round {round} ({failed} failed): one address per attachment: {held:?}"
        );
        let distinct: BTreeSet<_> = held.values().collect();
        assert_eq!(distinct.len(), containers.len(), "no address held twice");
        for (c, a) in &got {
            assert_eq!(
                held[c].to_string() + "/32",
                *a,
                "the pod has what ipamd holds"
            );
        }
    }
    for (c, ns) in containers.iter().zip(&namespaces) {
        assert!(
            plugin(&cni(), "DEL", c, Some(&ns.path()), &ipamd.conf("1.1.0"))
                .await
                .ok
        );
    }
    assert!(ipamd.held().is_empty());
    assert_eq!(host_leftovers(cidr).await, (vec![], vec![]));
    let _ = Client::connect(&ipamd.socket, Duration::from_secs(1))
        .await
        .expect("still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_keeps_valid_attachments_and_removes_the_rest() {
    let _host = HOST.lock().await;
    let ipamd = Ipamd::start("10.99.4.0/30", 30_000).await;
    let (ns_keep, ns_gone) = (Netns::new(), Netns::new());
    let conf = ipamd.conf("1.1.0");
    let (keep, gone) = (unique("keep"), unique("gone"));
    let a = plugin(&cni(), "ADD", &keep, Some(&ns_keep.path()), &conf).await;
    let b = plugin(&cni(), "ADD", &gone, Some(&ns_gone.path()), &conf).await;
    assert!(a.ok && b.ok, "{} {}", a.out, b.out);
    let gone_if = b.out["interfaces"][0]["name"].as_str().unwrap().to_string();

    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": keep, "ifname": "eth0"}]);
    let gc = plugin(&cni(), "GC", "", None, &gc_conf).await;
    assert!(gc.ok, "GC: {}", gc.out);
    let held = ipamd.held();
    assert_eq!(
        held.keys().collect::<Vec<_>>(),
        vec![&keep],
        "only the valid attachment holds an address"
    );
    let links = netlink::links_with_prefix(netlink::HOST_PREFIX)
        .await
        .unwrap();
    assert!(!links.contains(&gone_if), "{links:?}");
    assert_eq!(links.len(), 1, "{links:?}");

    // Of the /30, `keep` holds one and `gone`'s is cooling: two are free, the third ADD
    // finds the pool empty, answers "try again later" and leaves nothing behind.
    let spaces: Vec<Netns> = (0..3).map(|_| Netns::new()).collect();
    let fills: Vec<String> = (0..3).map(|i| unique(&format!("fill{i}"))).collect();
    for (c, ns) in fills.iter().zip(&spaces).take(2) {
        let r = plugin(&cni(), "ADD", c, Some(&ns.path()), &conf).await;
        assert!(r.ok, "{}", r.out);
    }
    let r = plugin(&cni(), "ADD", &fills[2], Some(&spaces[2].path()), &conf).await;
    assert!(!r.ok);
    assert_eq!(r.out["code"], 11, "{}", r.out);
    assert!(
        r.out["msg"]
            .as_str()
            .unwrap()
            .contains("no free pod address"),
        "{}",
        r.out
    );
    let links = netlink::links_with_prefix(netlink::HOST_PREFIX)
        .await
        .unwrap();
    assert!(
        !links.contains(&netlink::host_ifname(&fills[2], "eth0")),
        "{links:?}"
    );
    for (c, ns) in fills.iter().zip(&spaces) {
        assert!(plugin(&cni(), "DEL", c, Some(&ns.path()), &conf).await.ok);
    }
    assert!(
        plugin(&cni(), "DEL", &keep, Some(&ns_keep.path()), &conf)
            .await
            .ok
    );
    assert_eq!(host_leftovers(&ipamd.cidr).await, (vec![], vec![]));
}
