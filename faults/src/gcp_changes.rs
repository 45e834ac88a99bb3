//! GCP's world changes by hand, made as an operator with gcloud would (Compute Engine calls
//! under the operator's token, not the controller's): an Ingress's URL map path rule
//! edited, an Ingress's firewall rule deleted, and a foreign forwarding rule under the name
//! a Service's would take.
//!
//! The Ingress runs in ingress-gce's dialect: class `gce`, the Service `web` (ClusterIP,
//! container-native: the pods in zonal NEGs) as its default backend and behind `/shop`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::clouds::gcp::{self, OPERATOR_TOKEN};
use crate::env::Env;
use crate::run::{Expect, Goal, Metrics, Run};
use crate::stack::{LIMIT, SETTLE, free_service_name, stack_goal, up_stack, wait_warning};
use crate::workload::{self, APP, NAMESPACE};

const INGRESS: &str = "shop";

fn key() -> String {
    format!("{NAMESPACE}/{INGRESS}")
}

/// The Ingress `shop` of class `gce`: `/shop` and everything else to the Service `web`.
async fn gce_ingress(client: &kube::Client) -> Result<()> {
    let backend = json!({"service": {"name": APP, "port": {"number": 80}}});
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": INGRESS, "namespace": NAMESPACE},
        "spec": {"ingressClassName": "gce", "defaultBackend": backend,
            "rules": [{"http": {"paths": [{
                "path": "/shop", "pathType": "Prefix", "backend": backend
            }]}}]}
    }))?;
    Api::<Ingress>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &ing)
        .await?;
    Ok(())
}

/// Three pods, the ClusterIP Service and the Ingress, served: its URL map routes `/shop`
/// and its backend services hold exactly the pods.
async fn up_ingress(r: &mut Run) -> Result<Goal> {
    workload::deploy(&r.env.client, 3).await?;
    workload::cluster_service(&r.env.client).await?;
    gce_ingress(&r.env.client).await?;
    let goal = Goal {
        service: None,
        ingresses: vec![key()],
        expect: vec![Expect::RoutesPath {
            ingress: key(),
            path: "/shop".into(),
        }],
        ..stack_goal(3)
    };
    r.settle(&goal, SETTLE).await?;
    Ok(goal)
}

/// The project of the GCP world.
fn project(dump: &Value) -> Result<String> {
    dump["gcp"]["project"]
        .as_str()
        .map(str::to_string)
        .context("no GCP project in the state dump")
}

/// A Compute Engine call as the operator; `path` is under the project.
async fn operator_call(
    env: &Env,
    method: &str,
    project: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value> {
    crate::http::request_as(
        env.control(),
        method,
        &format!("/compute/v1/projects/{project}/{path}"),
        body,
        Some(OPERATOR_TOKEN),
    )
    .await
}

/// Waits until the resource at `path` (under the project) is in the state dump; answers the
/// dump.
async fn until_present(env: &Env, path: &str) -> Result<Value> {
    let start = std::time::Instant::now();
    loop {
        let dump = crate::http::request(env.control(), "GET", "/_mockcloud/state", None).await?;
        if !dump["gcp"]["resources"][path].is_null() {
            return Ok(dump);
        }
        if start.elapsed() > SETTLE {
            bail!("{path} not made in {SETTLE:?}");
        }
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }
}

/// The path rule for `/shop` of the Ingress's URL map edited by hand (`urlMaps.update`):
/// it matches `/edited` instead.
pub async fn rule_edited(r: &mut Run) -> Result<Metrics> {
    let goal = up_ingress(r).await?;
    let s = r.sample().await?;
    let lb = s
        .ingress_load_balancer(&key())
        .context("the Ingress's forwarding rule")?;
    let url_map = gcp::url_map_of(&s.cloud, &lb).context("the Ingress's URL map")?;
    let project = project(&s.cloud)?;
    let fault = r.fault(&goal).await?;
    // Read it as gcloud does (with its fingerprint), change the rule, write it back whole.
    let mut body = operator_call(&r.env, "GET", &project, &url_map, None).await?;
    let mut edited = 0;
    for pm in body["pathMatchers"].as_array_mut().into_iter().flatten() {
        for rule in pm["pathRules"].as_array_mut().into_iter().flatten() {
            if rule["paths"].to_string().contains("\"/shop\"") {
                rule["paths"] = json!(["/edited"]);
                edited += 1;
            }
        }
    }
    if edited == 0 {
        bail!("no path rule of {url_map} matches /shop: {body}");
    }
    operator_call(&r.env, "PUT", &project, &url_map, Some(&body))
        .await
        .with_context(|| format!("cannot update {url_map}"))?;
    let after = operator_call(&r.env, "GET", &project, &url_map, None).await?;
    if !after["pathMatchers"].to_string().contains("\"/edited\"") {
        bail!("the edit of {url_map} did not take: {after}");
    }
    r.notes.push(format!(
        "{}: {edited} path rule(s) for /shop edited by hand to match /edited (urlMaps.update)",
        url_map.rsplit('/').next().unwrap_or(&url_map)
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// The Ingress's firewall rule (the one letting Google's front ends and health checkers
/// reach the pods) deleted by hand (`firewalls.delete`): the controller makes it again,
/// whole, on its next resync.
pub async fn firewall_rule_deleted(r: &mut Run) -> Result<Metrics> {
    let mut goal = up_ingress(r).await?;
    let s = r.sample().await?;
    let project = project(&s.cloud)?;
    let owner = format!("{}={}", cloudnet_core::ownership::TAG_OWNER, key());
    let (path, rule) = s.cloud["gcp"]["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(_, r)| {
            r["kind"] == "compute#firewall"
                && gcp::owned(r)
                && r["description"]
                    .as_str()
                    .is_some_and(|d| d.split_whitespace().any(|kv| kv == owner))
        })
        .map(|(p, r)| (p.clone(), r.clone()))
        .context("the Ingress has no firewall rule")?;
    let fields = json!({
        "sourceRanges": rule["sourceRanges"],
        "allowed": rule["allowed"],
        "disabled": false,
        "direction": "INGRESS",
    });
    goal.expect.push(Expect::GcpResource {
        path: path.clone(),
        fields,
    });
    let fault = r.fault(&goal).await?;
    operator_call(&r.env, "DELETE", &project, &path, None)
        .await
        .with_context(|| format!("cannot delete {path}"))?;
    let after = r.sample().await?;
    if !after.cloud["gcp"]["resources"][&path].is_null() {
        bail!("{path} is still there after its deletion");
    }
    r.notes.push(format!(
        "{}: the rule letting {} reach tcp:{} deleted by hand (firewalls.delete)",
        path.rsplit('/').next().unwrap_or(&path),
        rule["sourceRanges"],
        rule["allowed"][0]["ports"]
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// A forwarding rule without our description, made by the operator (with its own regional
/// backend service) under the name the Service's takes, while the Service is away: the
/// controller must refuse it (a Warning) and never touch it; removed by hand 10 s later,
/// after which the Service's stack is made.
pub async fn foreign_forwarding_rule(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let s = r.sample().await?;
    let project = project(&s.cloud)?;
    let (path, rule) = s.cloud["gcp"]["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(path, r)| {
            r["kind"] == "compute#forwardingRule" && gcp::owned(r) && path.starts_with("regions/")
        })
        .map(|(p, r)| (p.clone(), r.clone()))
        .context("the Service has no regional forwarding rule")?;
    let name = rule["name"].as_str().context("a rule name")?.to_string();
    let region = path.split('/').nth(1).context("a region")?.to_string();
    free_service_name(r).await?;
    // Another team's passthrough load balancer: its backend service and a forwarding rule
    // named as the Service's, neither with our description.
    let endpoint = r.env.cloud.endpoint_url();
    let backend = "another-team-backend";
    let regional = format!("regions/{region}");
    operator_call(
        &r.env,
        "POST",
        &project,
        &format!("{regional}/backendServices"),
        Some(&json!({"name": backend, "loadBalancingScheme": "EXTERNAL",
            "protocol": "TCP", "description": "another team's"})),
    )
    .await
    .context("cannot make the foreign backend service")?;
    until_present(&r.env, &format!("{regional}/backendServices/{backend}")).await?;
    operator_call(
        &r.env,
        "POST",
        &project,
        &format!("{regional}/forwardingRules"),
        Some(
            &json!({"name": name, "loadBalancingScheme": "EXTERNAL", "IPProtocol": "TCP",
            "ports": ["80"], "description": "another team's",
            "backendService": format!(
                "{endpoint}/compute/v1/projects/{project}/{regional}/backendServices/{backend}"
            )}),
        ),
    )
    .await
    .with_context(|| format!("cannot make the foreign forwarding rule {name}"))?;
    until_present(&r.env, &format!("{regional}/forwardingRules/{name}")).await?;
    let s = crate::observe::Snapshot::take(&r.env).await?;
    let foreign = [
        format!("forwardingRules/{name}"),
        format!("backendServices/{backend}"),
    ];
    for id in &foreign {
        r.checker.adopt_foreign(&s, id);
    }
    let fault = r.fault(&stack_goal(3)).await?;
    workload::expose(&r.env.client).await?;
    let warned = wait_warning(r, "").await?;
    let warnings = workload::service_warnings(&r.env.client).await?;
    r.notes
        .push(format!("the Service's Warning: {}", warnings.join(" | ")));
    let hold = r.env.options.scaled(Duration::from_secs(10));
    r.hold(hold).await?;
    // The checker has compared both with their first state on every sample; now their
    // owner removes them.
    for id in &foreign {
        r.checker.forget_foreign(id);
    }
    operator_call(
        &r.env,
        "DELETE",
        &project,
        &format!("{regional}/forwardingRules/{name}"),
        None,
    )
    .await?;
    let start = std::time::Instant::now();
    loop {
        let deleted = operator_call(
            &r.env,
            "DELETE",
            &project,
            &format!("{regional}/backendServices/{backend}"),
            None,
        )
        .await;
        match deleted {
            Ok(_) => break,
            // Still in use until the rule's deletion is done.
            Err(e) if start.elapsed() < Duration::from_secs(30) => {
                tracing::debug!("deleting {backend}: {e:#}");
                tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
            }
            Err(e) => return Err(e),
        }
    }
    let mut m = r.measure(&stack_goal(3), fault, LIMIT).await?;
    m.reaction_ms = Some(warned.as_millis() as u64);
    Ok(m)
}
