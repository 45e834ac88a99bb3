//! IngressClassParams (the AWS Load Balancer Controller's): what an Ingress's class imposes,
//! applied as the anchor applies it: every field set wins over the Ingress's matching
//! `alb.ingress.kubernetes.io/*` annotation (`tags` and `loadBalancerAttributes` merged key
//! by key, the params winning), `group.name` puts the class's Ingresses in one group, and an
//! Ingress in a namespace the `namespaceSelector` does not select is refused. Pure: the
//! Ingress is rewritten into the one the rest of the model reads, so every annotation's own
//! validation applies to the params' values too.

use std::collections::BTreeMap;

use cloudnet_crds::{Attribute, IngressClassParams, IngressClassParamsSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::annotations::parse_map;

/// The API groups whose `IngressClassParams` an IngressClass may name (ours, and the
/// anchor's, so its IngressClasses work unchanged; both mean the `cloudnet.io` kind).
pub const PARAMS_GROUPS: [&str; 2] = ["cloudnet.io", "elbv2.k8s.aws"];
const PREFIX: &str = "alb.ingress.kubernetes.io/";
/// Where [`effective`] leaves the subnet tags of an Ingress's IngressClassParams for the model
/// (no annotation of the anchor says this). Only [`effective`] sets it: a copy an Ingress
/// brings itself is dropped.
pub(super) const SUBNET_TAGS: &str = "ingressclassparams.cloudnet.io/subnet-tags";

/// The params the Ingress's IngressClass names, if it names any; an error when it names
/// params that do not exist or of an unknown kind.
pub fn params_of<'a>(
    ing: &Ingress,
    classes: &[IngressClass],
    params: &'a [IngressClassParams],
) -> Result<Option<&'a IngressClassParamsSpec>, String> {
    let Some(class_name) = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
    else {
        return Ok(None);
    };
    let Some(reference) = classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(class_name))
        .and_then(|c| c.spec.as_ref()?.parameters.as_ref())
    else {
        return Ok(None);
    };
    let group = reference.api_group.as_deref().unwrap_or_default();
    if reference.kind != "IngressClassParams" || !PARAMS_GROUPS.contains(&group) {
        return Err(format!(
            "IngressClass {class_name} names parameters of kind {}/{}, which this controller does not read (IngressClassParams of cloudnet.io or elbv2.k8s.aws)",
            group, reference.kind
        ));
    }
    params
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(reference.name.as_str()))
        .map(|p| Some(&p.spec))
        .ok_or_else(|| {
            format!(
                "IngressClass {class_name} names IngressClassParams {} that does not exist",
                reference.name
            )
        })
}

/// Whether `selector` selects a namespace with these labels (matchLabels and the four
/// matchExpressions operators).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expression = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    by_label && by_expression
}

fn render_map(map: &BTreeMap<String, String>) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace(',', "\\,");
    map.iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The Ingress as the model is to read it under `params`, its namespace having
/// `namespace_labels`; an error when the params refuse it.
pub fn apply(
    ing: &Ingress,
    params: &IngressClassParamsSpec,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<Ingress, String> {
    let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(selector) = &params.namespace_selector
        && !selects(selector, namespace_labels)
    {
        return Err(format!(
            "the IngressClassParams of this Ingress's class do not allow namespace {namespace} (namespaceSelector)"
        ));
    }
    let mut out = ing.clone();
    let annotations = out.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(SUBNET_TAGS);
    let subnet_tags = match &params.subnets {
        Some(subnets) if !subnets.tags.is_empty() => {
            if !subnets.ids.is_empty() {
                return Err("IngressClassParams subnets: name ids or tags, not both".into());
            }
            let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for t in &subnets.tags {
                if t.key.is_empty() || t.values.is_empty() {
                    return Err(format!(
                        "IngressClassParams subnets.tags: tag {:?} needs a key and at least one value",
                        t.key
                    ));
                }
                tags.entry(t.key.clone())
                    .or_default()
                    .extend(t.values.iter().cloned());
            }
            // The params override the Ingress's own subnets annotation.
            annotations.remove(&format!("{PREFIX}subnets"));
            Some(serde_json::to_string(&tags).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let mut set = |suffix: &str, value: Option<String>| {
        if let Some(v) = value {
            annotations.insert(format!("{PREFIX}{suffix}"), v);
        }
    };
    set("scheme", params.scheme.clone());
    set("ip-address-type", params.ip_address_type.clone());
    set("target-type", params.target_type.clone());
    set("ssl-policy", params.ssl_policy.clone());
    if let Some(group) = &params.group {
        set("group.name", Some(group.name.clone()));
    }
    if let Some(subnets) = &params.subnets
        && !subnets.ids.is_empty()
    {
        set("subnets", Some(subnets.ids.join(",")));
    }
    if let Some(tags) = subnet_tags {
        annotations.insert(SUBNET_TAGS.to_string(), tags);
    }
    for (suffix, from_params) in [
        ("tags", &params.tags),
        ("load-balancer-attributes", &params.load_balancer_attributes),
    ] {
        if from_params.is_empty() {
            continue;
        }
        let key = format!("{PREFIX}{suffix}");
        let mut merged = match annotations.get(&key) {
            Some(raw) => parse_map(raw).map_err(|e| format!("{key}: {e}"))?,
            None => BTreeMap::new(),
        };
        for Attribute { key, value } in from_params {
            merged.insert(key.clone(), value.clone());
        }
        annotations.insert(key, render_map(&merged));
    }
    Ok(out)
}

/// The Ingress as the model reads it: its class's IngressClassParams applied, with the labels
/// of its namespace from `namespace_labels`; unchanged when its class names no params. The
/// controller and `cloudnet plan` both read Ingresses through this.
pub fn effective(
    ing: &Ingress,
    classes: &[IngressClass],
    params: &[IngressClassParams],
    namespace_labels: impl FnOnce(&str) -> BTreeMap<String, String>,
) -> Result<Ingress, String> {
    match params_of(ing, classes, params)? {
        Some(spec) => apply(ing, spec, &namespace_labels(super::group::namespace(ing))),
        None => {
            let mut out = ing.clone();
            if let Some(a) = out.metadata.annotations.as_mut() {
                a.remove(SUBNET_TAGS);
            }
            Ok(out)
        }
    }
}
