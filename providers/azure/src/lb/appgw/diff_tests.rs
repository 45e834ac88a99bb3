//! Table tests of the gateway's desired model and diff: no cloud.

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, ErrorKind, FixedResponse, Listener, LoadBalancerKind,
    LoadBalancerSpec, Owner, OwnerKind, PathMatch, Protocol, Rule, TargetKind,
};
use serde_json::{Value, json};

use super::*;
use crate::lb::appgw::attributes as attr;
use crate::lb::appgw::{Place, desired};
use crate::lb::pool_name;

/// A change to a spec, for a table row.
type Change = Box<dyn Fn(&mut LoadBalancerSpec)>;
/// A change to a gateway as read, for a table row.
type Drift = Box<dyn Fn(&mut Value)>;

fn group(key: &str, port: u16) -> BackendGroup {
    BackendGroup::new(key, Protocol::Http, port, TargetKind::PodIp)
}

fn rule(priority: u32, host: &str, path: &str, g: &str) -> Rule {
    Rule {
        priority,
        hosts: vec![host.into()],
        paths: vec![PathMatch::Prefix(path.into())],
        conditions: vec![],
        action: Action::forward_to(g),
    }
}

/// Two hosts, two paths on one, TLS on 443 with HTTP redirected to it.
fn spec() -> LoadBalancerSpec {
    let rules = vec![
        rule(1, "shop.example.com", "/api", "shop/api:80"),
        rule(2, "shop.example.com", "/", "shop/web:80"),
        rule(3, "admin.example.com", "/", "shop/admin:80"),
    ];
    let not_found = Action::FixedResponse(FixedResponse {
        status_code: 404,
        content_type: Some("text/plain".into()),
        body: None,
    });
    let https = Listener {
        certificates: vec![CertificateRef::Named(
            "https://kv.vault.azure.net/secrets/shop".into(),
        )],
        rules,
        ..Listener::new(443, Protocol::Https, not_found)
    };
    LoadBalancerSpec::new(
        Owner::namespaced("demo", OwnerKind::Ingress, "shop", "web"),
        LoadBalancerKind::Application,
        vec![
            Listener::new(80, Protocol::Http, Action::redirect_to_https()),
            https,
        ],
        vec![
            group("shop/api:80", 8080),
            group("shop/web:80", 3000),
            group("shop/admin:80", 9000),
        ],
    )
}

fn place() -> Place {
    let rg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";
    Place {
        id: format!("{rg}/applicationGateways/agw"),
        name: "agw".into(),
        location: "eastus".into(),
        subnet_id: format!("{rg}/virtualNetworks/v/subnets/appgw-subnet"),
        public_ip_id: format!("{rg}/publicIPAddresses/agw-pip"),
    }
}

fn build(spec: &LoadBalancerSpec) -> ApplicationGateway {
    desired(spec, &place(), None).expect("the spec builds")
}

/// As ARM answers: IDs on parts, an ETag, provisioning states, IDs in upper case.
fn as_read(gw: &ApplicationGateway) -> ApplicationGateway {
    let mut v = serde_json::to_value(gw).unwrap();
    v["etag"] = json!("W/\"7\"");
    v["id"] = json!(place().id);
    v["properties"]["provisioningState"] = json!("Succeeded");
    for (k, parts) in v["properties"].as_object_mut().unwrap() {
        for p in parts.as_array_mut().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            p["id"] = json!(format!("{}/{k}/{name}", place().id));
            p["etag"] = json!("W/\"7\"");
            p["properties"]["provisioningState"] = json!("Succeeded");
        }
    }
    let upper = serde_json::to_string(&v)
        .unwrap()
        .replace("/resourceGroups/rg/", "/resourceGroups/RG/");
    serde_json::from_str(&upper).unwrap()
}

fn seen(exists: bool) -> PublicIpSeen {
    PublicIpSeen {
        exists,
        owned: exists,
        dns_label_matches: true,
    }
}

fn at(gw: &ApplicationGateway) -> Value {
    serde_json::to_value(gw).unwrap()
}

#[test]
fn two_hosts_and_paths_make_sites_path_maps_and_a_redirect() {
    let v = at(&build(&spec()));
    let p = &v["properties"];
    let names = |k: &str| -> Vec<String> {
        p[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Two host sites on 443, its catch-all, and 80's catch-all.
    assert_eq!(names("httpListeners").len(), 4);
    assert_eq!(names("requestRoutingRules").len(), 4);
    assert_eq!(names("frontendPorts"), ["port-80", "port-443"]);
    assert_eq!(names("redirectConfigurations").len(), 1);
    // api, web, admin and the empty default pool for the 404.
    assert_eq!(names("backendAddressPools").len(), 4);
    assert!(names("backendAddressPools").contains(&"pool-default".to_string()));
    // shop.example.com: /api to api, the rest to web.
    let maps = p["urlPathMaps"].as_array().unwrap();
    assert_eq!(maps.len(), 1);
    let rule = &maps[0]["properties"]["pathRules"][0]["properties"];
    assert_eq!(rule["paths"], json!(["/api", "/api/*"]));
    let pool_of = |k: &str| format!("{}/backendAddressPools/{}", place().id, pool_name(k));
    assert_eq!(
        rule["backendAddressPool"]["id"],
        json!(pool_of("shop/api:80"))
    );
    assert_eq!(
        maps[0]["properties"]["defaultBackendAddressPool"]["id"],
        json!(pool_of("shop/web:80"))
    );
    // Priorities: unique, host sites first, catch-alls last.
    let rules = p["requestRoutingRules"].as_array().unwrap();
    let prio: Vec<u64> = rules
        .iter()
        .map(|r| r["properties"]["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(prio, [10, 20, 30, 40]);
    let listener_of = |r: &Value| {
        r["properties"]["httpListener"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(listener_of(&rules[3]).ends_with("/httpListeners/listener-443"));
    assert!(listener_of(&rules[2]).ends_with("/httpListeners/listener-80"));
    // 80 redirects to 443's catch-all listener, permanently, path and query kept.
    let r = &p["redirectConfigurations"][0]["properties"];
    assert_eq!(r["redirectType"], "Permanent");
    assert_eq!(r["includePath"], true);
    assert!(
        r["targetListener"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/httpListeners/listener-443")
    );
    // HTTPS host listeners carry the Key Vault certificate and SNI.
    let https = p["httpListeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["properties"]["hostNames"] == json!(["admin.example.com"]))
        .unwrap();
    assert_eq!(https["properties"]["requireServerNameIndication"], true);
    assert_eq!(
        p["sslCertificates"][0]["properties"]["keyVaultSecretId"],
        "https://kv.vault.azure.net/secrets/shop"
    );
}

#[test]
fn agic_attributes_shape_settings_probes_and_frontend() {
    let mut s = spec();
    s.attributes
        .insert(attr::USE_PRIVATE_IP.into(), "true".into());
    let a = &mut s.groups[0].attributes;
    a.insert(attr::BACKEND_PATH_PREFIX.into(), "/v1/".into());
    a.insert(attr::HEALTH_PROBE_PATH.into(), "/healthz".into());
    a.insert(attr::BACKEND_PROTOCOL.into(), "https".into());
    a.insert(attr::REQUEST_TIMEOUT.into(), "120".into());
    a.insert(attr::CONNECTION_DRAINING.into(), "true".into());
    a.insert(attr::CONNECTION_DRAINING_TIMEOUT.into(), "45".into());
    a.insert(attr::COOKIE_BASED_AFFINITY.into(), "true".into());
    let v = at(&build(&s));
    let p = &v["properties"];
    let st = &p["backendHttpSettingsCollection"][0]["properties"];
    assert_eq!(st["path"], "/v1/");
    assert_eq!(st["protocol"], "Https");
    assert_eq!(st["requestTimeout"], 120);
    assert_eq!(st["cookieBasedAffinity"], "Enabled");
    assert_eq!(
        st["connectionDraining"],
        json!({"enabled": true, "drainTimeoutInSec": 45})
    );
    let probe = &p["probes"][0]["properties"];
    assert_eq!(probe["path"], "/healthz");
    assert_eq!(probe["protocol"], "Https");
    // Listeners on the private frontend; the public one stays (v2 needs it).
    assert_eq!(p["frontendIPConfigurations"].as_array().unwrap().len(), 2);
    assert!(
        p["httpListeners"][0]["properties"]["frontendIPConfiguration"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/frontend-private")
    );
}

#[test]
fn bad_input_is_invalid_and_names_what() {
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "use-private-ip",
            Box::new(|s| {
                s.attributes
                    .insert(attr::USE_PRIVATE_IP.into(), "yes".into());
            }),
            "use-private-ip",
        ),
        (
            "request-timeout",
            Box::new(|s| {
                s.groups[0]
                    .attributes
                    .insert(attr::REQUEST_TIMEOUT.into(), "0".into());
            }),
            "request-timeout",
        ),
        (
            "backend-protocol",
            Box::new(|s| {
                s.groups[0]
                    .attributes
                    .insert(attr::BACKEND_PROTOCOL.into(), "grpc".into());
            }),
            "backend-protocol",
        ),
        (
            "a pattern with a middle wildcard",
            Box::new(|s| {
                s.listeners[1].rules[0].paths = vec![PathMatch::Pattern("/a/*/b".into())];
            }),
            "'*' only at the end",
        ),
        (
            "a rule-level fixed response",
            Box::new(|s| {
                s.listeners[1].rules[0].action = Action::FixedResponse(FixedResponse {
                    status_code: 503,
                    content_type: None,
                    body: None,
                });
            }),
            "fixed response 503",
        ),
    ];
    for (what, change, says) in cases {
        let mut s = spec();
        change(&mut s);
        let e = desired(&s, &place(), None).expect_err(what);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}");
        assert!(e.to_string().contains(says), "{what}: {e}");
    }
}

#[test]
fn diff_table() {
    let s = spec();
    let want = build(&s);
    let read = as_read(&want);
    // Nothing there: create the public IP and the gateway.
    assert_eq!(
        diff(&s.owner, None, &want, seen(false)).unwrap(),
        ChangeSet {
            put_public_ip: true,
            put_load_balancer: true
        }
    );
    // Partial: the public IP is there, the gateway not (a create that stopped half way).
    assert_eq!(
        diff(&s.owner, None, &want, seen(true)).unwrap(),
        ChangeSet {
            put_public_ip: false,
            put_load_balancer: true
        }
    );
    // Partial the other way: the gateway is there, its public IP gone.
    assert!(
        diff(&s.owner, Some(&read), &want, seen(false))
            .unwrap()
            .put_public_ip
    );
    // As ARM answers it (IDs, ETags, states, case): nothing to do.
    assert!(
        diff(&s.owner, Some(&read), &want, seen(true))
            .unwrap()
            .is_empty()
    );
    // Drift in any field the suite sets: one gateway PUT.
    let drifts: Vec<(&str, Drift)> = vec![
        ("a tag", Box::new(|v| v["tags"]["team"] = json!("x"))),
        (
            "listener host",
            Box::new(|v| {
                v["properties"]["httpListeners"][0]["properties"]["hostNames"] =
                    json!(["evil.example.com"])
            }),
        ),
        (
            "frontend port",
            Box::new(|v| v["properties"]["frontendPorts"][0]["properties"]["port"] = json!(8080)),
        ),
        (
            "backend port",
            Box::new(|v| {
                v["properties"]["backendHttpSettingsCollection"][0]["properties"]["port"] = json!(1)
            }),
        ),
        (
            "request timeout",
            Box::new(|v| {
                v["properties"]["backendHttpSettingsCollection"][0]["properties"]["requestTimeout"] =
                    json!(5)
            }),
        ),
        (
            "probe path",
            Box::new(|v| v["properties"]["probes"][0]["properties"]["path"] = json!("/x")),
        ),
        (
            "path rule",
            Box::new(|v| {
                v["properties"]["urlPathMaps"][0]["properties"]["pathRules"][0]["properties"]["paths"] =
                    json!(["/other"])
            }),
        ),
        (
            "rule priority",
            Box::new(|v| {
                v["properties"]["requestRoutingRules"][0]["properties"]["priority"] = json!(999)
            }),
        ),
        (
            "redirect type",
            Box::new(|v| {
                v["properties"]["redirectConfigurations"][0]["properties"]["redirectType"] =
                    json!("Found")
            }),
        ),
        (
            "an extra listener",
            Box::new(|v| {
                let l = v["properties"]["httpListeners"][0].clone();
                v["properties"]["httpListeners"]
                    .as_array_mut()
                    .unwrap()
                    .push(l);
            }),
        ),
        (
            "a pool reference",
            Box::new(|v| {
                v["properties"]["urlPathMaps"][0]["properties"]["defaultBackendAddressPool"]["id"] =
                    json!("/elsewhere")
            }),
        ),
        (
            "the subnet",
            Box::new(|v| {
                v["properties"]["gatewayIPConfigurations"][0]["properties"]["subnet"]["id"] =
                    json!("/other-subnet")
            }),
        ),
    ];
    for (what, drift) in drifts {
        let mut v = at(&read);
        drift(&mut v);
        let have: ApplicationGateway = serde_json::from_value(v).unwrap();
        assert_eq!(
            diff(&s.owner, Some(&have), &want, seen(true)).unwrap(),
            ChangeSet {
                put_public_ip: false,
                put_load_balancer: true
            },
            "{what}"
        );
    }
    // Pool members are sync_targets': desired keeps the observed ones, so no PUT for them.
    let mut v = at(&read);
    v["properties"]["backendAddressPools"][0]["properties"]["backendAddresses"] =
        json!([{"ipAddress": "10.244.0.9"}]);
    let with_members: ApplicationGateway = serde_json::from_value(v).unwrap();
    let want2 = desired(&s, &place(), Some(&with_members)).unwrap();
    assert!(
        diff(&s.owner, Some(&with_members), &want2, seen(true))
            .unwrap()
            .is_empty()
    );
    // Another owner's gateway under the name: Conflict, nothing decided.
    let mut v = at(&read);
    v["tags"] = json!({"owner": "someone"});
    let foreign: ApplicationGateway = serde_json::from_value(v).unwrap();
    let e = diff(&s.owner, Some(&foreign), &want, seen(true)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.code(), "ApplicationGatewayNotOwned");
}
