//! AGIC's one-gateway model end to end: `app::run` with Ingresses in AGIC's dialect merged
//! into the Application Gateway `AZURE_APPGW_NAME` names (`IngressSettings::agic_shared`), on
//! [`AzureCloud`] through `azure_mgmt_network` against the mock's ARM port, and the embedded
//! API (the controller as the chart's ServiceAccount). Two Ingresses make one gateway whose
//! frontend address both show; the later one (by namespace/name) loses a host and path it
//! shares with the first and is told so; removing the first hands that route to the second
//! and keeps the gateway; removing the last takes the gateway and its public IP.

mod azure_env;
mod chart_rbac;
mod common;
mod service_env;

use std::time::Duration;

use azure_env::resources;
use cloudnet_controllers::app::Settings;
use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_mockcloud::azure::AzureWorld;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

const CLUSTER: &str = "aks-e2e";
const GATEWAY: &str = "appgw-e2e";
const WAIT: Duration = Duration::from_secs(60);
const GW_WRITE: &str = "Microsoft.Network/applicationGateways/write";

/// A ClusterIP Service `name` (80 to 8080) in `default` with its ready endpoints `pod_ips`.
async fn service(admin: &kube::Client, name: &str, pod_ips: &[&str]) {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("a Service");
    Api::<Service>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await
        .expect("Service created");
    common::ready_endpoints(admin, name, pod_ips).await;
}

/// An Ingress of AGIC's class with `(host, service)` rules on `/`.
fn ingress(name: &str, rules: &[(&str, &str)]) -> Ingress {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(host, svc)| {
            json!({"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ingressClassName": "azure-application-gateway", "rules": rules}
    }))
    .expect("an Ingress")
}

/// `(host names, pool name)` of each Basic rule of the gateway.
fn routes(gw: &Value) -> Vec<(Value, String)> {
    let p = &gw["properties"];
    let listener_hosts = |id: &str| {
        p["httpListeners"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
            .map(|l| l["properties"]["hostNames"].clone())
            .unwrap_or(Value::Null)
    };
    p["requestRoutingRules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let rp = &r["properties"];
            let pool = rp["backendAddressPool"]["id"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (
                listener_hosts(rp["httpListener"]["id"].as_str().unwrap_or_default()),
                pool,
            )
        })
        .collect()
}

fn pool_of(gw: &Value, ip: &str) -> String {
    gw["properties"]["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| {
            b["properties"]["backendAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["ipAddress"] == ip)
        })
        .and_then(|b| b["name"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agic_ingresses_share_one_gateway_until_the_last_goes() {
    let mock = azure_env::mock(AzureWorld::availability_set()).await;
    let cluster = common::Cluster::start(&[]).await;
    let admin = cluster.admin.clone();
    service(&admin, "web", &["10.224.0.50"]).await;
    service(&admin, "api", &["10.224.0.60"]).await;

    let cloud = azure_env::connect(&mock, "aks-nodepool1-12345678-0", CLUSTER).await;
    let counts = cloud.counts().clone();
    let settings = Settings {
        ingress: Some(IngressSettings::agic_shared(CLUSTER, GATEWAY).expect("a gateway name")),
        ingress_resync: Duration::from_secs(600),
        ..Settings::default()
    };
    let controllers = cluster.run(cloud.cloud(), settings);

    // `a` routes a.example.com to web; `b` routes b.example.com to api and claims
    // a.example.com for api too, which `a` (first by name) keeps.
    let ingresses: Api<Ingress> = Api::namespaced(admin.clone(), "default");
    ingresses
        .create(
            &PostParams::default(),
            &ingress("a", &[("a.example.com", "web")]),
        )
        .await
        .expect("a");
    ingresses
        .create(
            &PostParams::default(),
            &ingress("b", &[("b.example.com", "api"), ("a.example.com", "api")]),
        )
        .await
        .expect("b");
    let mock = &mock;
    let gw = eventually(
        WAIT,
        "one gateway with both Ingresses' hosts and members",
        || async move {
            let gws = resources(mock, "Microsoft.Network/applicationGateways");
            let gw = gws.first()?.clone();
            let hosts: Vec<Value> = routes(&gw).into_iter().map(|r| r.0).collect();
            let members =
                !pool_of(&gw, "10.224.0.50").is_empty() && !pool_of(&gw, "10.224.0.60").is_empty();
            (gws.len() == 1
                && gw["name"] == GATEWAY
                && hosts
                    == [
                        json!(["a.example.com"]),
                        json!(["b.example.com"]),
                        Value::Null,
                    ]
                && members)
                .then_some(gw)
        },
    )
    .await;
    let (web_pool, api_pool) = (pool_of(&gw, "10.224.0.50"), pool_of(&gw, "10.224.0.60"));
    let r = routes(&gw);
    assert_eq!(
        r[0],
        (json!(["a.example.com"]), web_pool.clone()),
        "a keeps a.example.com"
    );
    assert_eq!(r[1], (json!(["b.example.com"]), api_pool.clone()));
    let pips = resources(mock, "Microsoft.Network/publicIPAddresses");
    assert_eq!(pips.len(), 1, "{pips:#?}");
    assert_eq!(pips[0]["name"], format!("{GATEWAY}-pip"));
    let address = pips[0]["properties"]["ipAddress"]
        .as_str()
        .expect("an address")
        .to_string();

    // Both Ingresses show the gateway's one frontend address.
    for name in ["a", "b"] {
        let (ingresses, address) = (&ingresses, &address);
        eventually(
            WAIT,
            &format!("{name}'s status.loadBalancer"),
            || async move {
                let ing = ingresses.get(name).await.ok()?;
                let ip = ing.status?.load_balancer?.ingress?.first()?.ip.clone()?;
                (ip == *address).then_some(())
            },
        )
        .await;
    }

    // The loser is told, naming the winner.
    let ev = service_env::wait_for_event(&admin, "default", "ConflictingRule", None, WAIT).await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(
        ev.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("b")
    );
    let note = ev.note.unwrap_or_default();
    assert!(
        note.contains("a.example.com") && note.contains("default/a"),
        "{note}"
    );

    // `a` goes: one gateway PUT hands a.example.com to b's api; the gateway stays.
    let writes = counts.of(GW_WRITE);
    let ingresses = &ingresses;
    ingresses
        .delete("a", &DeleteParams::default())
        .await
        .expect("a deleted");
    let api_pool = &api_pool;
    eventually(WAIT, "a.example.com routed to api", || async move {
        let gw = resources(mock, "Microsoft.Network/applicationGateways")
            .into_iter()
            .next()?;
        let r = routes(&gw);
        (r.len() == 3
            && r.contains(&(json!(["a.example.com"]), api_pool.clone()))
            && ingresses.get_opt("a").await.ok()?.is_none())
        .then_some(())
    })
    .await;
    assert_eq!(counts.of(GW_WRITE) - writes, 1, "{:?}", counts.snapshot());
    let gw = resources(mock, "Microsoft.Network/applicationGateways");
    assert_eq!(gw.len(), 1);
    assert!(
        pool_of(&gw[0], "10.224.0.50").is_empty(),
        "web's pool went with a: {:#?}",
        gw[0]["properties"]["backendAddressPools"]
    );

    // The last goes: no gateway, no public IP.
    ingresses
        .delete("b", &DeleteParams::default())
        .await
        .expect("b deleted");
    eventually(WAIT, "the gateway and its public IP gone", || async move {
        (resources(mock, "Microsoft.Network/applicationGateways").is_empty()
            && resources(mock, "Microsoft.Network/publicIPAddresses").is_empty()
            && ingresses.get_opt("b").await.ok()?.is_none())
        .then_some(())
    })
    .await;

    controllers.stop().await;
}
