//! `cloudnet plan`: what the controllers would change in the cloud for the given objects,
//! without changing anything.
//!
//! The objects' load balancers are built with the controllers' own model code (Services of
//! type LoadBalancer, Ingresses grouped into IngressGroups, each read through its class's
//! IngressClassParams when the files hold them: `ingress::params::effective`, the
//! controller's own), the cloud is observed and each
//! stack's change set is printed: the same observe + diff that `ensure` runs before it
//! applies. No mutating call is made. Exit codes as `terraform plan -detailed-exitcode`:
//! 0 no change, 2 changes, 1 an error (an object that cannot be built, a cloud error).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use aws_credential_types::Credentials;
use cloudnet_aws::lb::changes::ChangeSet;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::ingress::params;
use cloudnet_controllers::ingress::{GroupId, IngressSettings, Services, build_group_spec};
use cloudnet_controllers::service::{ServiceSettings, build_spec, is_served};
use cloudnet_core::LoadBalancerSpec;
use cloudnet_crds::IngressClassParams;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Serialize;

use crate::manifests::{self, Document};

/// The VPC and nodes' security group of the mock cloud's default world (the empty cloud
/// planned against without `--endpoint`).
const DEFAULT_WORLD_VPC: &str = "vpc-0c10d0e7000000001";
const DEFAULT_WORLD_NODE_SG: &str = "sg-0c10d0e7000000001";

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Manifests: files or directories of YAML/JSON (Services, Ingresses, IngressClasses,
    /// IngressClassParams and the Namespaces their `namespaceSelector` reads).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The cloud: only `aws` is built.
    #[arg(long, default_value = "aws")]
    pub provider: String,
    /// The cloud's API endpoint (a mock cloud, a VPC endpoint); without it, an empty mock
    /// cloud is started for the plan.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-west-2")]
    pub region: String,
    /// The cluster's VPC (needed with `--endpoint`).
    #[arg(long, env = "VPC_ID")]
    pub vpc_id: Option<String>,
    /// The nodes' security group, which load balancers are let into.
    #[arg(long, env = "NODE_SECURITY_GROUP")]
    pub node_security_group: Option<String>,
    /// The cluster's name: the ownership tags the controllers use (default: the sandbox's).
    #[arg(long, env = "CLUSTER_NAME", default_value = crate::controller::CLUSTER_NAME)]
    pub cluster_name: String,
    /// Also plan LoadBalancer Services with no `spec.loadBalancerClass` (as the controller
    /// with SERVE_CLASSLESS_SERVICES, and the sandbox, do).
    #[arg(long, env = "SERVE_CLASSLESS_SERVICES", default_value_t = false, action = clap::ArgAction::Set)]
    pub serve_classless_services: bool,
    /// `text` or `json`.
    #[arg(short = 'o', long = "output", default_value = "text")]
    pub output: String,
}

/// One load balancer's plan.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackPlan {
    /// What asks for it: `service default/web`, `ingress default/web`, `group shop`.
    pub object: String,
    pub change_set: ChangeSet,
}

/// Everything planned, and what could not be.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub stacks: Vec<StackPlan>,
    pub errors: Vec<String>,
}

impl Plan {
    /// 0 no change, 2 changes, 1 errors.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            1
        } else if self.stacks.iter().any(|s| !s.change_set.is_empty()) {
            2
        } else {
            0
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for s in &self.stacks {
            let cs = &s.change_set;
            if cs.is_empty() {
                out.push_str(&format!(
                    "{}: load balancer {}: no changes\n",
                    s.object, cs.load_balancer_name
                ));
                continue;
            }
            out.push_str(&format!(
                "{}: load balancer {}: {} changes\n",
                s.object,
                cs.load_balancer_name,
                cs.len()
            ));
            for c in &cs.changes {
                let mark = if c.is_create() {
                    '+'
                } else if c.is_delete() {
                    '-'
                } else {
                    '~'
                };
                out.push_str(&format!("  {mark} {c}\n"));
            }
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        let changes: usize = self.stacks.iter().map(|s| s.change_set.len()).sum();
        out.push_str(&format!(
            "Plan: {} load balancers, {changes} changes, {} errors.\n",
            self.stacks.len(),
            self.errors.len()
        ));
        out
    }
}

/// The specs the controllers would build from the documents, by the object that asks, and
/// every object that cannot be built.
pub fn desired(
    docs: &[Document],
    cluster: &str,
    serve_classless: bool,
) -> (Vec<(String, LoadBalancerSpec)>, Vec<String>) {
    let mut errors = Vec::new();
    let mut services: Vec<Service> = Vec::new();
    let mut ingresses: Vec<Ingress> = Vec::new();
    let mut classes: Vec<IngressClass> = Vec::new();
    let mut params: Vec<IngressClassParams> = Vec::new();
    let mut namespaces: Vec<Namespace> = Vec::new();
    for doc in docs {
        let mut object = doc.object.clone();
        let cluster_scoped = ["IngressClass", "IngressClassParams", "Namespace"];
        if object["metadata"]["namespace"].is_null() && !cluster_scoped.contains(&doc.kind()) {
            object["metadata"]["namespace"] = "default".into();
        }
        let parsed = match (doc.api_version(), doc.kind()) {
            ("v1", "Service") => serde_json::from_value(object).map(|s| services.push(s)),
            ("networking.k8s.io/v1", "Ingress") => {
                serde_json::from_value(object).map(|i| ingresses.push(i))
            }
            ("networking.k8s.io/v1", "IngressClass") => {
                serde_json::from_value(object).map(|c| classes.push(c))
            }
            // The anchor's group names the same kind (see `ingress::params`).
            ("cloudnet.io/v1alpha1" | "elbv2.k8s.aws/v1beta1", "IngressClassParams") => {
                object["apiVersion"] = "cloudnet.io/v1alpha1".into();
                serde_json::from_value(object).map(|p| params.push(p))
            }
            ("v1", "Namespace") => serde_json::from_value(object).map(|n| namespaces.push(n)),
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            errors.push(format!("{}: {} is not valid: {e}", doc.source, doc.kind()));
        }
    }

    let mut out = Vec::new();
    let mut service_settings = ServiceSettings::new(cluster);
    service_settings.serve_classless = serve_classless;
    for svc in services.iter().filter(|s| is_served(s, &service_settings)) {
        let key = format!(
            "service {}/{}",
            svc.metadata.namespace.as_deref().unwrap_or("default"),
            svc.metadata.name.as_deref().unwrap_or_default()
        );
        match build_spec(svc, &service_settings) {
            Ok(spec) => out.push((key, spec)),
            Err(e) => {
                let text: Vec<String> = e.iter().map(ToString::to_string).collect();
                errors.push(format!("{key}: {}", text.join("; ")));
            }
        }
    }

    let ingress_settings = IngressSettings::new(cluster);
    let by_id: Services = services
        .iter()
        .map(|s| {
            (
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                ),
                s.clone(),
            )
        })
        .collect();
    // Each served Ingress as the controller reads it: its class's IngressClassParams
    // applied (namespace labels from the Namespaces in the files).
    let namespace_labels = |name: &str| {
        namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default()
    };
    let mut effective: Vec<(GroupId, Ingress)> = Vec::new();
    for ing in ingresses
        .iter()
        .filter(|i| cloudnet_controllers::ingress::is_served(i, &classes, &ingress_settings))
    {
        match params::effective(ing, &classes, &params, namespace_labels)
            .and_then(|e| Ok((GroupId::in_settings(&e, &ingress_settings)?, e)))
        {
            Ok(pair) => effective.push(pair),
            Err(e) => errors.push(format!(
                "ingress {}/{}: {e}",
                ing.metadata.namespace.as_deref().unwrap_or("default"),
                ing.metadata.name.as_deref().unwrap_or_default()
            )),
        }
    }
    let mut groups: BTreeMap<&GroupId, Vec<&Ingress>> = BTreeMap::new();
    for (group, ing) in &effective {
        groups.entry(group).or_default().push(ing);
    }
    for (group, members) in groups {
        match build_group_spec(group, &members, &by_id, &ingress_settings) {
            Ok(spec) => out.push((group.to_string(), spec)),
            Err(e) => errors.extend(
                e.into_iter()
                    .map(|m| format!("ingress {}: {}", m.ingress, m.message)),
            ),
        }
    }
    (out, errors)
}

/// Observes the cloud for every spec and answers the plan; makes no mutating call.
pub async fn plan(
    provider: &AwsProvider,
    specs: Vec<(String, LoadBalancerSpec)>,
    mut errors: Vec<String>,
) -> Plan {
    let mut stacks = Vec::new();
    for (object, spec) in specs {
        match provider.plan(&spec).await {
            Ok(change_set) => stacks.push(StackPlan { object, change_set }),
            Err(e) => errors.push(format!("{object}: {e} ({})", e.code())),
        }
    }
    Plan { stacks, errors }
}

/// `cloudnet plan`: prints the plan and answers its exit code.
pub async fn run(args: PlanArgs) -> Result<u8> {
    if args.provider != "aws" {
        bail!(
            "--provider {:?}: only aws is built (GCP and Azure are not yet)",
            args.provider
        );
    }
    if !matches!(args.output.as_str(), "text" | "json") {
        bail!("--output must be text or json, not {:?}", args.output);
    }
    let docs = manifests::load(&args.files)?;
    let (specs, errors) = desired(&docs, &args.cluster_name, args.serve_classless_services);

    // Without an endpoint: an empty mock cloud, for this plan only.
    let (endpoint, vpc, node_sg, _cloud) = match &args.endpoint {
        Some(e) => {
            let vpc = args
                .vpc_id
                .clone()
                .context("--vpc-id (or VPC_ID) is needed with --endpoint")?;
            (e.clone(), vpc, args.node_security_group.clone(), None)
        }
        None => {
            let cloud = cloudnet_mockcloud::MockCloud::start(
                cloudnet_mockcloud::Config::ephemeral(cloudnet_mockcloud::World::default()),
            )
            .await?;
            (
                cloud.endpoint_url(),
                DEFAULT_WORLD_VPC.to_string(),
                Some(DEFAULT_WORLD_NODE_SG.to_string()),
                Some(cloud),
            )
        }
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(args.region.clone()))
        .endpoint_url(endpoint);
    if args.endpoint.is_none() {
        loader =
            loader.credentials_provider(Credentials::new("AKIDPLAN", "plan", None, None, "plan"));
    }
    let sdk = loader.load().await;
    let mut aws = AwsConfig::new(args.cluster_name.clone());
    aws.vpc_id = Some(vpc);
    aws.node_security_group = node_sg;
    let provider = AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default())
        .context("setting up the AWS provider")?;

    let plan = plan(&provider, specs, errors).await;
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.render_text());
    }
    Ok(plan.exit_code())
}
