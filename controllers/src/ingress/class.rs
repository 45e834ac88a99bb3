//! Which Ingresses this controller serves, by Kubernetes' rules: `spec.ingressClassName`
//! naming an IngressClass whose `spec.controller` is ours; the legacy
//! `kubernetes.io/ingress.class` annotation naming one of our class names; or neither, when
//! an IngressClass of ours is marked the cluster's default.

use cloudnet_core::TargetKind;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// cloudnet's own IngressClass controller name.
pub const CONTROLLER: &str = "cloudnet.io/alb";
/// The AWS Load Balancer Controller's, answered too so its IngressClasses move unchanged.
pub const AWS_CONTROLLER: &str = "ingress.k8s.aws/alb";
/// The legacy annotation naming an Ingress's class.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The IngressClass annotation that makes a class the cluster's default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The Ingress controller's settings that shape the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressSettings {
    pub cluster: String,
    /// `spec.controller` values of the IngressClasses this controller serves.
    pub controllers: Vec<String>,
    /// Class names served even with no IngressClass object (the legacy annotation's values, and
    /// `ingressClassName` values no object defines), like the anchor's `--ingress-class`.
    pub class_names: Vec<String>,
    /// Target kind when the Ingress names none (the anchor's default: `instance`).
    pub default_target_kind: TargetKind,
    /// TLS policy of HTTPS listeners when the Ingress names none.
    pub default_ssl_policy: String,
    /// Read ingress-gce's annotations ([`crate::gce`]) instead of the AWS Load Balancer
    /// Controller's: on GCP, with [`IngressSettings::ingress_gce`].
    pub ingress_gce: bool,
    /// Read AGIC's annotations ([`super::agic`]) instead of the AWS Load Balancer
    /// Controller's: on Azure, with [`IngressSettings::agic`].
    pub agic: bool,
    /// With [`Self::agic`]: the one Application Gateway every Ingress of the class is merged
    /// into (AGIC's `appgw.name`), one IngressGroup named after it. `None`: a gateway per
    /// Ingress.
    pub application_gateway: Option<String>,
}

impl IngressSettings {
    pub fn new(cluster: &str) -> IngressSettings {
        IngressSettings {
            cluster: cluster.to_string(),
            controllers: vec![CONTROLLER.into(), AWS_CONTROLLER.into()],
            class_names: vec!["alb".into()],
            default_target_kind: TargetKind::NodePort,
            default_ssl_policy: "ELBSecurityPolicy-2016-08".into(),
            ingress_gce: false,
            agic: false,
            application_gateway: None,
        }
    }

    /// ingress-gce's dialect, as on GKE: IngressClasses of `k8s.io/ingress-gce` and the class
    /// names `gce` (external) and `gce-internal` (internal) are served, their Ingresses'
    /// ingress-gce annotations read, and backends are pod IPs in NEGs (container-native).
    pub fn ingress_gce(cluster: &str) -> IngressSettings {
        IngressSettings {
            controllers: vec![CONTROLLER.into(), crate::gce::CONTROLLER.into()],
            class_names: vec![
                crate::gce::CLASS_EXTERNAL.into(),
                crate::gce::CLASS_INTERNAL.into(),
            ],
            default_target_kind: TargetKind::PodIp,
            ingress_gce: true,
            ..IngressSettings::new(cluster)
        }
    }

    /// AGIC's dialect, as on AKS: IngressClasses of `azure/application-gateway` and the class
    /// name `azure-application-gateway` are served, their Ingresses' AGIC annotations read,
    /// and backends are pod IPs in the gateway's pools.
    pub fn agic(cluster: &str) -> IngressSettings {
        IngressSettings {
            controllers: vec![CONTROLLER.into(), super::agic::CONTROLLER.into()],
            class_names: vec![super::agic::CLASS.into()],
            default_target_kind: TargetKind::PodIp,
            agic: true,
            ..IngressSettings::new(cluster)
        }
    }

    /// AGIC's dialect with every Ingress of the class merged into the one gateway `name`
    /// (an IngressGroup of that name), or why the name cannot be one.
    pub fn agic_shared(cluster: &str, name: &str) -> Result<IngressSettings, String> {
        super::group::check_gateway_group_name(name)?;
        Ok(IngressSettings {
            application_gateway: Some(name.to_string()),
            ..IngressSettings::agic(cluster)
        })
    }

    /// The shared Application Gateway's name, when Ingresses are merged into one.
    pub fn shared_gateway(&self) -> Option<&str> {
        self.application_gateway.as_deref().filter(|_| self.agic)
    }

    fn ours(&self, class: &IngressClass) -> bool {
        let controller = class.spec.as_ref().and_then(|s| s.controller.as_deref());
        controller.is_some_and(|c| self.controllers.iter().any(|o| o == c))
    }
}

/// The class an Ingress names: `spec.ingressClassName`, else the legacy annotation.
pub fn class_name(ing: &Ingress) -> Option<&str> {
    ing.spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ing.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
                .map(String::as_str)
        })
}

/// Whether the Ingress is ours, given the cluster's IngressClasses.
pub fn is_served(ing: &Ingress, classes: &[IngressClass], settings: &IngressSettings) -> bool {
    let by_name = |name: &str| match classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
    {
        Some(class) => settings.ours(class),
        None => settings.class_names.iter().any(|n| n == name),
    };
    if let Some(name) = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
    {
        return by_name(name);
    }
    if let Some(name) = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
    {
        return by_name(name);
    }
    // No class named: the default class decides; with several defaults Kubernetes refuses to
    // pick, and so does this.
    let defaults: Vec<&IngressClass> = classes
        .iter()
        .filter(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true")
        })
        .collect();
    matches!(defaults.as_slice(), [only] if settings.ours(only))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn class(name: &str, controller: &str, default: bool) -> IngressClass {
        let mut c = json!({"metadata": {"name": name}, "spec": {"controller": controller}});
        if default {
            c["metadata"]["annotations"] = json!({DEFAULT_CLASS_ANNOTATION: "true"});
        }
        serde_json::from_value(c).unwrap()
    }

    fn ingress(class_name: Option<&str>, legacy: Option<&str>) -> Ingress {
        let mut i = json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {}});
        if let Some(n) = class_name {
            i["spec"]["ingressClassName"] = json!(n);
        }
        if let Some(l) = legacy {
            i["metadata"]["annotations"] = json!({LEGACY_CLASS_ANNOTATION: l});
        }
        serde_json::from_value(i).unwrap()
    }

    #[test]
    fn classes_table() {
        let s = IngressSettings::new("demo");
        let ours = class("alb", AWS_CONTROLLER, false);
        let nginx = class("nginx", "k8s.io/ingress-nginx", false);
        let cases: Vec<(&str, Ingress, Vec<IngressClass>, bool)> = vec![
            (
                "class object of ours",
                ingress(Some("alb"), None),
                vec![ours.clone()],
                true,
            ),
            (
                "class object of another",
                ingress(Some("nginx"), None),
                vec![nginx.clone()],
                false,
            ),
            (
                "our name with no object",
                ingress(Some("alb"), None),
                vec![],
                true,
            ),
            (
                "an unknown name",
                ingress(Some("other"), None),
                vec![],
                false,
            ),
            (
                "an object overrides the name list",
                ingress(Some("alb"), None),
                vec![class("alb", "k8s.io/ingress-nginx", false)],
                false,
            ),
            (
                "legacy annotation",
                ingress(None, Some("alb")),
                vec![],
                true,
            ),
            (
                "legacy annotation of another",
                ingress(None, Some("nginx")),
                vec![],
                false,
            ),
            (
                "the class name wins over the legacy annotation",
                ingress(Some("nginx"), Some("alb")),
                vec![nginx.clone()],
                false,
            ),
            (
                "no class, ours is the default",
                ingress(None, None),
                vec![class("cloudnet", CONTROLLER, true), nginx.clone()],
                true,
            ),
            (
                "no class, no default",
                ingress(None, None),
                vec![ours.clone()],
                false,
            ),
            (
                "no class, two defaults",
                ingress(None, None),
                vec![
                    class("cloudnet", CONTROLLER, true),
                    class("nginx", "k8s.io/ingress-nginx", true),
                ],
                false,
            ),
        ];
        for (what, ing, classes, want) in cases {
            assert_eq!(is_served(&ing, &classes, &s), want, "{what}");
        }
    }

    #[test]
    fn ingress_gce_classes_are_served_by_name_object_and_legacy_annotation() {
        let s = IngressSettings::ingress_gce("demo");
        let gke = class("gce", crate::gce::CONTROLLER, false);
        let cases: Vec<(&str, Ingress, Vec<IngressClass>, bool)> = vec![
            ("gce, no object", ingress(Some("gce"), None), vec![], true),
            (
                "gce-internal, no object",
                ingress(Some("gce-internal"), None),
                vec![],
                true,
            ),
            (
                "gce object of GKE",
                ingress(Some("gce"), None),
                vec![gke.clone()],
                true,
            ),
            ("legacy gce", ingress(None, Some("gce")), vec![], true),
            (
                "legacy gce-internal",
                ingress(None, Some("gce-internal")),
                vec![],
                true,
            ),
            (
                "alb is not a GKE class",
                ingress(Some("alb"), None),
                vec![],
                false,
            ),
            ("nginx", ingress(None, Some("nginx")), vec![], false),
        ];
        for (what, ing, classes, want) in cases {
            assert_eq!(is_served(&ing, &classes, &s), want, "{what}");
        }
        assert_eq!(class_name(&ingress(Some("gce"), Some("x"))), Some("gce"));
        assert_eq!(
            class_name(&ingress(None, Some("gce-internal"))),
            Some("gce-internal")
        );
        assert_eq!(class_name(&ingress(None, None)), None);
    }
}
