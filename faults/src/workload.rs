//! The workloads scenarios run: a Deployment `web` and a LoadBalancer Service in front of it
//! (an NLB with `ip` targets: the pods' VPC addresses), applied as a user would.

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
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

pub async fn expose(client: &kube::Client) -> Result<()> {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {
            "name": APP,
            "namespace": NAMESPACE,
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
        },
        "spec": {
            "type": "LoadBalancer",
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

/// Deletes every Service of type LoadBalancer and every Deployment in the namespace.
pub async fn delete_all(client: &kube::Client) -> Result<()> {
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
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), NAMESPACE);
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.involved_object.kind.as_deref() == Some("Service")
                && e.involved_object.name.as_deref() == Some(APP)
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
