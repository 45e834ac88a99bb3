//! Backend health as Google's health checkers see it: they probe from 130.211.0.0/22 and
//! 35.191.0.0/16, so a NEG endpoint is `HEALTHY` only when the VPC firewall lets both
//! ranges reach its instance on the probed port; otherwise `UNHEALTHY` (Compute Engine's
//! implied rule denies all ingress). The application behind the port is taken as up.
//!
//! A rule admits the checkers when it is an `INGRESS` rule of the instance's network, not
//! disabled, whose target tags (or target service accounts) are empty or match the
//! instance's, one of whose source ranges contains the checker range, and one of whose
//! `allowed` entries is `tcp` (or `all`, or protocol 6) with no ports or a port or range
//! holding the port. Deny rules are not weighed against allow rules (this backend never
//! makes one); instance-group backends are reported healthy.
//!
//! The functions work on the resources' JSON, so a test or the fault harness can judge a
//! state dump as the mock judges its state.

use ipnet::Ipv4Net;
use serde_json::Value;

/// Where the health checkers probe from.
pub const CHECKER_RANGES: [&str; 2] = ["130.211.0.0/22", "35.191.0.0/16"];

/// The path under the project of a resource URL (`https://h/compute/v1/projects/p/zones/z/
/// instances/n` -> `zones/z/instances/n`); a path is answered as it is.
pub fn path_of_url(url: &str) -> &str {
    match url.find("/projects/") {
        Some(i) => {
            let rest = &url[i + "/projects/".len()..];
            rest.split_once('/').map_or(rest, |(_, p)| p)
        }
        None => url
            .strip_prefix("projects/")
            .map_or(url, |r| r.split_once('/').map_or(r, |(_, p)| p)),
    }
}

fn last(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The field of a health check of `type_` that holds its protocol's settings
/// (`tcpHealthCheck`, ...); None for a type Compute Engine does not have.
pub fn spec_field(type_: &str) -> Option<&'static str> {
    Some(match type_ {
        "TCP" => "tcpHealthCheck",
        "HTTP" => "httpHealthCheck",
        "HTTPS" => "httpsHealthCheck",
        "HTTP2" => "http2HealthCheck",
        "SSL" => "sslHealthCheck",
        "GRPC" => "grpcHealthCheck",
        _ => return None,
    })
}

/// The port a health check probes `endpoint` of `neg` on: its fixed port, or with
/// `USE_SERVING_PORT` the endpoint's port (else the NEG's default port).
pub fn probe_port(health_check: &Value, neg: &Value, endpoint: &Value) -> Option<u16> {
    let field = spec_field(health_check["type"].as_str()?)?;
    let spec = &health_check[field];
    let port = if spec["portSpecification"] == "USE_SERVING_PORT" {
        endpoint["port"]
            .as_u64()
            .or_else(|| neg["defaultPort"].as_u64())
    } else {
        spec["port"].as_u64()
    };
    port.and_then(|p| u16::try_from(p).ok())
}

fn allows_tcp_port(rule: &Value, port: u16) -> bool {
    rule["allowed"].as_array().into_iter().flatten().any(|a| {
        let proto = a["IPProtocol"].as_str().unwrap_or_default();
        if !matches!(proto, "tcp" | "all" | "6") {
            return false;
        }
        let ports = a["ports"].as_array().map(Vec::as_slice).unwrap_or_default();
        ports.is_empty()
            || ports
                .iter()
                .filter_map(Value::as_str)
                .any(|p| match p.split_once('-') {
                    Some((lo, hi)) => matches!(
                        (lo.parse::<u16>(), hi.parse::<u16>()),
                        (Ok(lo), Ok(hi)) if (lo..=hi).contains(&port)
                    ),
                    None => p.parse::<u16>() == Ok(port),
                })
    })
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether the rule applies to `instance` (its network, its tags, its service accounts).
fn targets(rule: &Value, instance: &Value) -> bool {
    let network = instance["networkInterfaces"][0]["network"]
        .as_str()
        .map(last)
        .unwrap_or_default();
    if rule["network"].as_str().map(last) != Some(network) {
        return false;
    }
    let tags: Vec<&str> = strings(&instance["tags"]["items"]).collect();
    let accounts: Vec<&str> = instance["serviceAccounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["email"].as_str())
        .collect();
    let by_tag = rule["targetTags"].as_array().is_some_and(|t| !t.is_empty());
    let by_account = rule["targetServiceAccounts"]
        .as_array()
        .is_some_and(|t| !t.is_empty());
    (!by_tag || strings(&rule["targetTags"]).any(|t| tags.contains(&t)))
        && (!by_account || strings(&rule["targetServiceAccounts"]).any(|a| accounts.contains(&a)))
}

/// Whether some enabled ingress-allow rule of `firewalls` lets each checker range reach
/// `instance` on TCP `port`.
pub fn checkers_admitted<'a>(
    firewalls: impl Iterator<Item = &'a Value> + Clone,
    instance: &Value,
    port: u16,
) -> bool {
    CHECKER_RANGES.iter().all(|range| {
        let Ok(range) = range.parse::<Ipv4Net>() else {
            return false;
        };
        firewalls.clone().any(|rule| {
            rule["kind"] == "compute#firewall"
                && rule["direction"].as_str().unwrap_or("INGRESS") == "INGRESS"
                && rule["disabled"] != true
                && targets(rule, instance)
                && strings(&rule["sourceRanges"])
                    .filter_map(|s| s.parse::<Ipv4Net>().ok())
                    .any(|s| s.contains(&range))
                && allows_tcp_port(rule, port)
        })
    })
}

/// `HEALTHY` or `UNHEALTHY` for `endpoint` of `neg`, a backend of `backend_service`:
/// `lookup` answers a resource by its path under the project, `firewalls` are every rule.
/// A service without a health check reports its endpoints healthy.
pub fn endpoint_state<'a>(
    lookup: impl Fn(&str) -> Option<&'a Value>,
    firewalls: impl Iterator<Item = &'a Value> + Clone,
    backend_service: &Value,
    neg: &Value,
    endpoint: &Value,
) -> &'static str {
    let Some(hc) = backend_service["healthChecks"][0].as_str() else {
        return "HEALTHY";
    };
    let Some(hc) = lookup(path_of_url(hc)) else {
        return "HEALTHY";
    };
    let instance = endpoint["instance"]
        .as_str()
        .and_then(|i| lookup(path_of_url(i)));
    match (instance, probe_port(hc, neg, endpoint)) {
        (Some(i), Some(port)) if checkers_admitted(firewalls, i, port) => "HEALTHY",
        _ => "UNHEALTHY",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instance() -> Value {
        json!({"networkInterfaces": [{"network": "https://h/compute/v1/projects/p/global/networks/vpc"}],
            "tags": {"items": ["node"]}, "serviceAccounts": [{"email": "sa@p"}]})
    }

    fn rule(sources: &[&str], ports: &[&str]) -> Value {
        json!({"kind": "compute#firewall", "network": "projects/p/global/networks/vpc",
            "direction": "INGRESS", "disabled": false, "sourceRanges": sources,
            "allowed": [{"IPProtocol": "tcp", "ports": ports}]})
    }

    #[test]
    fn both_checker_ranges_on_the_port_are_needed() {
        let i = instance();
        let both = rule(&CHECKER_RANGES, &["8080"]);
        assert!(checkers_admitted([&both].into_iter(), &i, 8080));
        assert!(!checkers_admitted([&both].into_iter(), &i, 8081));
        assert!(
            !checkers_admitted(std::iter::empty(), &i, 8080),
            "implied deny"
        );
        let one = rule(&["35.191.0.0/16"], &["8080"]);
        assert!(!checkers_admitted([&one].into_iter(), &i, 8080));
        let other = rule(&["130.211.0.0/22"], &["8000-8100"]);
        assert!(
            checkers_admitted([&one, &other].into_iter(), &i, 8080),
            "two rules"
        );
        let wide = rule(&["0.0.0.0/0"], &[]);
        assert!(checkers_admitted([&wide].into_iter(), &i, 1));

        let mut disabled = both.clone();
        disabled["disabled"] = json!(true);
        let mut egress = both.clone();
        egress["direction"] = json!("EGRESS");
        let mut elsewhere = both.clone();
        elsewhere["network"] = json!("projects/p/global/networks/other");
        let mut tagged = both.clone();
        tagged["targetTags"] = json!(["web"]);
        let mut udp = both.clone();
        udp["allowed"] = json!([{"IPProtocol": "udp"}]);
        for (what, r) in [
            ("disabled", disabled),
            ("egress", egress),
            ("another network", elsewhere),
            ("another tag", tagged.clone()),
            ("udp", udp),
        ] {
            assert!(!checkers_admitted([&r].into_iter(), &i, 8080), "{what}");
        }
        tagged["targetTags"] = json!(["node"]);
        assert!(checkers_admitted([&tagged].into_iter(), &i, 8080));
    }

    #[test]
    fn the_probed_port_and_an_endpoints_state() {
        let fixed = json!({"type": "TCP", "tcpHealthCheck": {"port": 30054, "portSpecification": "USE_FIXED_PORT"}});
        let serving =
            json!({"type": "HTTP", "httpHealthCheck": {"portSpecification": "USE_SERVING_PORT"}});
        let neg = json!({"defaultPort": 9090});
        let ep = json!({"instance": "https://h/compute/v1/projects/p/zones/z/instances/n", "port": 8080});
        assert_eq!(probe_port(&fixed, &neg, &ep), Some(30054));
        assert_eq!(probe_port(&serving, &neg, &ep), Some(8080));
        assert_eq!(probe_port(&serving, &neg, &json!({})), Some(9090));

        let i = instance();
        let bs =
            json!({"healthChecks": ["https://h/compute/v1/projects/p/global/healthChecks/hc"]});
        let lookup = |path: &str| match path {
            "global/healthChecks/hc" => Some(&serving),
            "zones/z/instances/n" => Some(&i),
            _ => None,
        };
        let open = rule(&CHECKER_RANGES, &["8080"]);
        assert_eq!(
            endpoint_state(lookup, [&open].into_iter(), &bs, &neg, &ep),
            "HEALTHY"
        );
        assert_eq!(
            endpoint_state(lookup, std::iter::empty(), &bs, &neg, &ep),
            "UNHEALTHY"
        );
        assert_eq!(
            endpoint_state(lookup, std::iter::empty(), &json!({}), &neg, &ep),
            "HEALTHY",
            "no health check"
        );
        assert_eq!(path_of_url("projects/p/global/x/y"), "global/x/y");
        assert_eq!(path_of_url("zones/z/instances/n"), "zones/z/instances/n");
    }
}
