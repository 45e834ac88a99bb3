use crate::lb::model::{ActualListener, DesiredListener, ElbAction};

use super::{Matching, match_by_key};

/// What to change on a matched listener.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

    #[test]
    fn table() {
        let fwd = ElbAction::forward(vec![TargetGroupWeight {
            target_group: "arn:tg".into(),
            weight: 1,
        }]);
        let desired = [
            d(80, "HTTP", fixed("404")),
            d(443, "HTTPS", fwd.clone()),
            d(8080, "HTTP", fwd.clone()),
        ];
        let mut changed_cert = a(443, "HTTPS", fwd.clone());
        changed_cert.certificates = vec!["cert-b".into()];
        let actual = [
            a(80, "HTTP", fixed("503")),
            changed_cert,
            a(9090, "HTTP", fwd.clone()),
        ];
        let m = match_listeners(&desired, &actual);
        assert_eq!(
            m.create.iter().map(|l| l.port).collect::<Vec<_>>(),
            vec![8080]
        );
        assert_eq!(
            m.delete.iter().map(|l| l.port).collect::<Vec<_>>(),
            vec![9090]
        );
        assert_eq!(
            m.matched[0].changes,
            ListenerChanges {
                default_action: true,
                ..Default::default()
            }
        );
        assert_eq!(
            m.matched[1].changes,
            ListenerChanges {
                certificate: true,
                ..Default::default()
            }
        );

        let same = [a(80, "HTTP", fixed("404"))];
        let m = match_listeners(&desired[..1], &same);
        assert!(m.matched[0].changes.is_empty());

        let mut proto = a(80, "HTTPS", fixed("404"));
        proto.ssl_policy = None;
        let other = [proto];
        let m = match_listeners(&desired[..1], &other);
        assert!(m.matched[0].changes.protocol);
    }
}
