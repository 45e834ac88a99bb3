use super::*;
use crate::resources::Registry;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn print(api_version: &str, kind: &str, obj: Value) -> (Vec<String>, Vec<Value>) {
    let registry = Registry::default();
    let info = registry
        .lookup_kind(api_version, kind)
        .unwrap_or_else(|| panic!("{api_version} {kind} is served"));
    let printer = printer_for(info, None);
    let names = printer.columns.iter().map(|c| c.name.clone()).collect();
    let cells = printer.cells(&obj, now());
    assert_eq!(
        cells.len(),
        printer.columns.len(),
        "{kind}: one cell per column"
    );
    (names, cells)
}

const CREATED: &str = "2024-05-01T11:55:00Z";

#[test]
fn pods() {
    let pod = json!({
        "metadata": {"name": "web-1", "creationTimestamp": CREATED},
        "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}],
            "readinessGates": [{"conditionType": "x"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5",
            "conditions": [{"type": "x", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "state": {"running": {}}}
            ]}
    });
    let (names, cells) = print("v1", "Pod", pod.clone());
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(
        cells,
        [
            json!("web-1"),
            json!("1/2"),
            json!("Running"),
            json!("3"),
            json!("5m"),
            json!("10.0.0.5"),
            json!("node-a"),
            json!("<none>"),
            json!("1/1")
        ]
    );
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
    let (_, cells) = print("v1", "Pod", pending);
    assert_eq!(cells[1..4], [json!("0/1"), json!("Pending"), json!("0")]);
    assert_eq!(
        cells[5..],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let mut waiting = pod.clone();
    waiting["status"]["containerStatuses"][1]["state"] =
        json!({"waiting": {"reason": "CrashLoopBackOff"}});
    assert_eq!(pod_status(&waiting), "CrashLoopBackOff");
    let mut deleting = pod;
    deleting["metadata"]["deletionTimestamp"] = json!(CREATED);
    assert_eq!(pod_status(&deleting), "Terminating");
}

#[test]
fn services() {
    let svc = |spec: Value, status: Value| json!({"metadata": {"name": "web", "creationTimestamp": CREATED}, "spec": spec, "status": status});
    let (names, cells) = print(
        "v1",
        "Service",
        svc(
            json!({"type": "ClusterIP", "clusterIP": "10.100.0.2", "clusterIPs": ["10.100.0.2"],
            "selector": {"app": "web", "tier": "a"}, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
            json!({}),
        ),
    );
    assert_eq!(
        names,
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(
        cells,
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.100.0.2"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("5m"),
            json!("app=web,tier=a")
        ]
    );
    let (_, cells) = print(
        "v1",
        "Service",
        svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.100.0.3", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        ),
    );
    assert_eq!(cells[3..5], [json!("<pending>"), json!("80:30080/TCP")]);
    let (_, cells) = print(
        "v1",
        "Service",
        svc(
            json!({"type": "LoadBalancer", "ports": []}),
            json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
        ),
    );
    assert_eq!(
        cells[2..5],
        [json!("<none>"), json!("lb.example.com"), json!("<none>")]
    );
}

#[test]
fn deployments_nodes_and_the_rest() {
    let (names, cells) = print(
        "apps/v1",
        "Deployment",
        json!({"metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
    );
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        cells,
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("5m"),
            json!("nginx"),
            json!("nginx:1.27"),
            json!("app=web")
        ]
    );

    let (names, cells) = print(
        "v1",
        "Node",
        json!({"metadata": {"name": "n1", "creationTimestamp": CREATED,
                "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0"}}}),
    );
    assert_eq!(names[..5], ["Name", "Status", "Roles", "Age", "Version"]);
    assert_eq!(
        cells,
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("5m"),
            json!("v1.33.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );

    let (names, cells) = print(
        "networking.k8s.io/v1",
        "Ingress",
        json!({"metadata": {"name": "ing", "creationTimestamp": CREATED},
            "spec": {"ingressClassName": "alb", "tls": [{}],
                "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "d"}, {"host": "e"}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "k8s-alb.elb.amazonaws.com"}]}}}),
    );
    assert_eq!(names, ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
    assert_eq!(
        cells,
        [
            json!("ing"),
            json!("alb"),
            json!("a.example.com,b.example.com,d + 2 more..."),
            json!("k8s-alb.elb.amazonaws.com"),
            json!("80, 443"),
            json!("5m")
        ]
    );

    let (names, cells) = print(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"metadata": {"name": "web-abc", "creationTimestamp": CREATED}, "addressType": "IPv4",
            "ports": [{"port": 8080}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]}),
    );
    assert_eq!(names, ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
    assert_eq!(
        cells,
        [
            json!("web-abc"),
            json!("IPv4"),
            json!("8080"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
            json!("5m")
        ]
    );
    let (_, cells) = print(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [], "endpoints": []}),
    );
    assert_eq!(cells[2..4], [json!("<unset>"), json!("<unset>")]);

    let table: &[(&str, &str, Value, Vec<Value>)] = &[
        (
            "v1",
            "Namespace",
            json!({"metadata": {"name": "ns", "creationTimestamp": CREATED}, "status": {"phase": "Active"}}),
            vec![json!("ns"), json!("Active"), json!("5m")],
        ),
        (
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": "cm", "creationTimestamp": CREATED}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
            vec![json!("cm"), json!(3), json!("5m")],
        ),
        (
            "coordination.k8s.io/v1",
            "Lease",
            json!({"metadata": {"name": "l", "creationTimestamp": CREATED}, "spec": {"holderIdentity": "pod-1"}}),
            vec![json!("l"), json!("pod-1"), json!("5m")],
        ),
        (
            "v1",
            "ServiceAccount",
            json!({"metadata": {"name": "sa", "creationTimestamp": CREATED}}),
            vec![json!("sa"), json!(0), json!("5m")],
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"metadata": {"name": "ds"}}),
            vec![
                json!("ds"),
                json!(0),
                json!(0),
                json!(0),
                json!(0),
                json!(0),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!("<none>"),
            ],
        ),
        (
            "v1",
            "Event",
            json!({"metadata": {"name": "e.1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": " Assigned ", "firstTimestamp": CREATED,
            "source": {"component": "default-scheduler"}}),
            vec![
                json!("5m"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web-1"),
                json!(""),
                json!("default-scheduler"),
                json!("Assigned"),
                json!("5m"),
                json!(1),
                json!("e.1"),
            ],
        ),
        (
            "events.k8s.io/v1",
            "Event",
            json!({"metadata": {"name": "e.2"}, "type": "Warning", "reason": "Failed",
            "regarding": {"kind": "Ingress", "name": "ing"}, "note": "no subnets", "eventTime": "2024-05-01T11:58:00.000000Z",
            "reportingController": "cloudnet", "reportingInstance": "ctrl-1", "series": {"count": 4, "lastObservedTime": "2024-05-01T11:59:00.000000Z"}}),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("Failed"),
                json!("ingress/ing"),
                json!(""),
                json!("cloudnet, ctrl-1"),
                json!("no subnets"),
                json!("2m"),
                json!(4),
                json!("e.2"),
            ],
        ),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            json!({"metadata": {"name": "x.example.com", "creationTimestamp": CREATED}}),
            vec![json!("x.example.com"), json!(CREATED)],
        ),
        (
            "v1",
            "Endpoints",
            json!({"metadata": {"name": "ep", "creationTimestamp": CREATED}}),
            vec![json!("ep"), json!("<none>"), json!("5m")],
        ),
        (
            "networking.k8s.io/v1",
            "IngressClass",
            json!({"metadata": {"name": "alb", "creationTimestamp": CREATED}, "spec": {"controller": "ingress.k8s.aws/alb"}}),
            vec![
                json!("alb"),
                json!("ingress.k8s.aws/alb"),
                json!("<none>"),
                json!("5m"),
            ],
        ),
    ];
    for (api_version, kind, obj, want) in table {
        assert_eq!(&print(api_version, kind, obj.clone()).1, want, "{kind}");
    }
}

#[test]
fn custom_resources() {
    let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
        "versions": [{"name": "v1", "served": true, "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Tags", "type": "string", "jsonPath": ".spec.tags", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]}, {"name": "v2", "served": true}]}});
    let infos = crate::resources::resources_of_crd(&crd);
    let widget = json!({"metadata": {"name": "w", "creationTimestamp": CREATED},
        "spec": {"size": 3, "tags": ["a"]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let v1 = printer_for(&infos[0], Some(&crd));
    let names: Vec<&str> = v1.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Name", "Size", "Ready", "Tags", "Age"]);
    assert_eq!(v1.columns[3].priority, 1);
    assert_eq!(
        v1.cells(&widget, now()),
        [
            json!("w"),
            json!(3),
            json!("True"),
            json!("[\"a\"]"),
            json!("5m")
        ]
    );
    let bare = json!({"metadata": {"name": "w"}});
    assert_eq!(
        v1.cells(&bare, now())[1..4],
        [Value::Null, Value::Null, Value::Null]
    );
    let v2 = printer_for(&infos[1], Some(&crd));
    let names: Vec<&str> = v2.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(v2.cells(&widget, now()), [json!("w"), json!("5m")]);
}
