//! Parsing of request paths into what they address.

/// A request against a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    /// Set when the path is under `/namespaces/<ns>/`.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    Audit,
    /// `/openapi/v3[/<gv path>]`: the rest after `/openapi/v3/`.
    OpenApi(String),
    Unknown,
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Target {
    let namespaced = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (namespace, rest) = if namespaced {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if rest.is_empty() || rest.len() > 3 {
        return Target::Unknown;
    }
    Target::Resource(ResourcePath {
        group: group.into(),
        version: version.into(),
        plural: rest[0].into(),
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    })
}

/// Parses a request path.
pub fn parse(path: &str) -> Target {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["healthz" | "readyz" | "livez", ..] => Target::Health,
        ["api"] => Target::CoreVersions,
        ["api", "v1"] => Target::GroupVersion {
            group: String::new(),
            version: "v1".into(),
        },
        ["api", "v1", rest @ ..] => resource("", "v1", rest),
        ["apis"] => Target::Groups,
        ["apis", group] => Target::Group(group.to_string()),
        ["apis", group, version] => Target::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        ["_kubesim", "audit"] => Target::Audit,
        ["openapi", "v3", rest @ ..] => Target::OpenApi(rest.join("/")),
        _ => Target::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(g: &str, p: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Target {
        Target::Resource(ResourcePath {
            group: g.into(),
            version: "v1".into(),
            plural: p.into(),
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
        })
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse("/api/v1/namespaces"),
            rp("", "namespaces", None, None, None)
        );
        assert_eq!(
            parse("/api/v1/namespaces/x"),
            rp("", "namespaces", None, Some("x"), None)
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/status"),
            rp("", "namespaces", None, Some("x"), Some("status"))
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/pods"),
            rp("", "pods", Some("x"), None, None)
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/d/deployments/w/scale"),
            rp("apps", "deployments", Some("d"), Some("w"), Some("scale"))
        );
        assert_eq!(
            parse("/api/v1/nodes/n1"),
            rp("", "nodes", None, Some("n1"), None)
        );
        assert_eq!(parse("/api/v1/a/b/c/d"), Target::Unknown);
        assert_eq!(parse("/apis"), Target::Groups);
    }
}
