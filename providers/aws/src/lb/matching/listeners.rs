use crate::lb::model::{ActualListener, DesiredListener, ElbAction};

use super::{Matching, match_by_key};

/// What to change on a matched listener.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerChanges {
    pub protocol: bool,
    pub certificate: bool,
    pub ssl_policy: bool,
    pub default_action: bool,
}

impl ListenerChanges {
    pub fn is_empty(&self) -> bool {
        !(self.protocol || self.certificate || self.ssl_policy || self.default_action)
    }
}

/// Matches by port. `desired` actions must already be resolved to target group ARNs.
/// Only the default certificate is compared: it is the one the listener itself carries.
pub fn match_listeners<'a>(
    desired: &'a [DesiredListener],
    actual: &'a [ActualListener],
) -> Matching<'a, DesiredListener, ActualListener, ListenerChanges> {
    match_by_key(
        desired,
        actual,
        |d| d.port,
        |a| a.port,
        |d, a| ListenerChanges {
            protocol: a.protocol.as_deref() != Some(d.protocol.as_str()),
            certificate: d.certificates.first() != a.certificates.first(),
            ssl_policy: d.ssl_policy.is_some() && d.ssl_policy != a.ssl_policy,
            default_action: a.default_actions.as_slice()
                != std::slice::from_ref::<ElbAction>(&d.default_action),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::model::{FixedResponseSettings, TargetGroupWeight};

    fn fixed(code: &str) -> ElbAction {
        ElbAction::FixedResponse(FixedResponseSettings {
            status_code: code.into(),
            content_type: None,
            message_body: None,
        })
    }

    fn d(port: u16, protocol: &str, action: ElbAction) -> DesiredListener {
        DesiredListener {
            port,
            protocol: protocol.into(),
            certificates: if protocol == "HTTPS" {
                vec!["cert-a".into()]
            } else {
                vec![]
            },
            ssl_policy: (protocol == "HTTPS").then(|| "p1".to_string()),
            default_action: action,
            rules: vec![],
        }
    }

    fn a(port: u16, protocol: &str, action: ElbAction) -> ActualListener {
        ActualListener {
            arn: format!("arn:l/{port}"),
            port,
            protocol: Some(protocol.into()),
            certificates: if protocol == "HTTPS" {
                vec!["cert-a".into()]
            } else {
                vec![]
            },
            ssl_policy: (protocol == "HTTPS").then(|| "p1".to_string()),
            default_actions: vec![action],
        }
    }

    fn fwd() -> ElbAction {
        ElbAction::forward(vec![TargetGroupWeight {
            target_group: "arn:tg".into(),
            weight: 1,
        }])
    }

    #[test]
    fn drift_table() {
        type Case = (
            &'static str,
            DesiredListener,
            fn(&mut ActualListener),
            ListenerChanges,
        );
        let none = ListenerChanges::default();
        let cases: Vec<Case> = vec![
            ("in sync", d(443, "HTTPS", fwd()), |_| {}, none.clone()),
            (
                "default action",
                d(80, "HTTP", fixed("404")),
                |a| a.default_actions = vec![fixed("503")],
                ListenerChanges {
                    default_action: true,
                    ..none.clone()
                },
            ),
            (
                "an extra action",
                d(80, "HTTP", fixed("404")),
                |a| a.default_actions.push(fixed("404")),
                ListenerChanges {
                    default_action: true,
                    ..none.clone()
                },
            ),
            (
                "default certificate",
                d(443, "HTTPS", fwd()),
                |a| a.certificates = vec!["cert-b".into()],
                ListenerChanges {
                    certificate: true,
                    ..none.clone()
                },
            ),
            (
                "only the default certificate counts",
                d(443, "HTTPS", fwd()),
                |a| a.certificates.push("cert-extra".into()),
                none.clone(),
            ),
            (
                "TLS policy",
                d(443, "HTTPS", fwd()),
                |a| a.ssl_policy = Some("p0".into()),
                ListenerChanges {
                    ssl_policy: true,
                    ..none.clone()
                },
            ),
            (
                "protocol",
                d(80, "HTTP", fixed("404")),
                |a| a.protocol = Some("HTTPS".into()),
                ListenerChanges {
                    protocol: true,
                    ..none.clone()
                },
            ),
            (
                "a policy on a plain listener is AWS's business",
                d(80, "HTTP", fixed("404")),
                |a| a.ssl_policy = Some("p0".into()),
                none.clone(),
            ),
        ];
        for (name, desired, drift, want) in cases {
            let mut actual = a(
                desired.port,
                &desired.protocol,
                desired.default_action.clone(),
            );
            drift(&mut actual);
            let desired = [desired];
            let actual = [actual];
            let m = match_listeners(&desired, &actual);
            assert!(m.create.is_empty() && m.delete.is_empty(), "{name}");
            assert_eq!(m.matched[0].changes, want, "{name}");
            assert_eq!(m.matched[0].changes.is_empty(), want == none, "{name}");
        }
    }

    #[test]
    fn by_port_create_delete_and_duplicates() {
        let desired = [d(80, "HTTP", fixed("404")), d(8080, "HTTP", fwd())];
        let mut dup = a(80, "HTTP", fixed("404"));
        dup.arn = "arn:l/80-again".into();
        let actual = [a(80, "HTTP", fixed("404")), a(9090, "HTTP", fwd()), dup];
        let m = match_listeners(&desired, &actual);
        assert_eq!(m.matched.len(), 1);
        assert_eq!(
            m.matched[0].actual.arn, "arn:l/80",
            "the first listed survives"
        );
        assert_eq!(
            m.create.iter().map(|l| l.port).collect::<Vec<_>>(),
            vec![8080]
        );
        assert_eq!(
            m.delete.iter().map(|l| l.arn.as_str()).collect::<Vec<_>>(),
            vec!["arn:l/80-again", "arn:l/9090"]
        );
    }
}
