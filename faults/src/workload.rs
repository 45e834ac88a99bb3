//! The workloads scenarios run: a Deployment `web` and a LoadBalancer Service in front of it
//! (an NLB with `ip` targets: the pods' VPC addresses), or Ingresses of class `alb` (ALBs,
//! alone or in IngressGroups) in front of a ClusterIP Service, applied as a user would.

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

pub const NAMESPACE: &str = "default";
pub const APP: &str = "web";
/// The Service as `namespace/name`.
pub const SERVICE: &str = "default/web";

pub async fn deploy(client: &kube::Client, replicas: i32) -> Result<()> {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": APP, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}
            }
        }
    }))?;
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &d)
        .await?;
    Ok(())
}

pub async fn scale(client: &kube::Client, replicas: i32) -> Result<()> {
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .patch(
            APP,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await?;
    Ok(())
}

/// The LoadBalancer Service `web` (an NLB with `ip` targets).
pub async fn expose(client: &kube::Client) -> Result<()> {
    create_service(
        client,
        "LoadBalancer",
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
    )
    .await
}

/// The Service `web` of `type_` in front of the pods, port 80.
async fn create_service(
    client: &kube::Client,
    type_: &str,
    annotations: serde_json::Value,
) -> Result<()> {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": APP, "namespace": NAMESPACE, "annotations": annotations},
        "spec": {
            "type": type_,
            "selector": {"app": APP},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]
        }
    }))?;
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &svc)
        .await?;
    Ok(())
}

pub async fn delete_service(client: &kube::Client) -> Result<()> {
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .delete(APP, &DeleteParams::default())
        .await?;
    Ok(())
}

/// Sets (or with `None` removes) one annotation on the Service.
pub async fn annotate(client: &kube::Client, key: &str, value: Option<&str>) -> Result<()> {
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(
            APP,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await?;
    Ok(())
}

/// The annotation that puts an Ingress in an IngressGroup.
pub const GROUP: &str = "alb.ingress.kubernetes.io/group.name";

/// A ClusterIP Service `web` in front of the pods: the Ingresses' backend.
pub async fn cluster_service(client: &kube::Client) -> Result<()> {
    create_service(client, "ClusterIP", json!({})).await
}

/// An Ingress `name` of class `alb` routing `path` to the Service `web` with `ip` targets,
/// in the IngressGroup `group` when given.
pub async fn ingress(
    client: &kube::Client,
    name: &str,
    group: Option<&str>,
    path: &str,
) -> Result<()> {
    let mut annotations = json!({
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/target-type": "ip",
    });
    if let Some(g) = group {
        annotations[GROUP] = json!(g);
    }
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": APP, "port": {"number": 80}}}
        }]}}]}
    }))?;
    Api::<Ingress>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &ing)
        .await?;
    Ok(())
}

/// Moves the Ingress `name` to the IngressGroup `group`.
pub async fn set_group(client: &kube::Client, name: &str, group: &str) -> Result<()> {
    Api::<Ingress>::namespaced(client.clone(), NAMESPACE)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {GROUP: group}}})),
        )
        .await?;
    Ok(())
}

/// Deletes every Ingress, every Service of type LoadBalancer and every Deployment in the
/// namespace.
pub async fn delete_all(client: &kube::Client) -> Result<()> {
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), NAMESPACE);
    for i in ingresses.list(&ListParams::default()).await?.items {
        if let Some(name) = i.metadata.name {
            ingresses.delete(&name, &DeleteParams::default()).await?;
        }
    }
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    for s in services.list(&ListParams::default()).await?.items {
        if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
            && let Some(name) = s.metadata.name
        {
            services.delete(&name, &DeleteParams::default()).await?;
        }
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    for d in deployments.list(&ListParams::default()).await?.items {
        if let Some(name) = d.metadata.name {
            deployments.delete(&name, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

/// The Warning Events on the Service, as `reason: message`.
pub async fn service_warnings(client: &kube::Client) -> Result<Vec<String>> {
    warnings(client, "Service", Some(APP)).await
}

/// The Warning Events in any namespace on objects of `kind` (named `name` when given), as
/// `reason: message`.
pub async fn warnings(
    client: &kube::Client,
    kind: &str,
    name: Option<&str>,
) -> Result<Vec<String>> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.involved_object.kind.as_deref() == Some(kind)
                && name.is_none_or(|n| e.involved_object.name.as_deref() == Some(n))
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect())
}
