//! The shared backend security group in whole diffs.

use super::*;

#[test]
fn creation_with_the_shared_backend_security_group() {
    let s = stack_with(true);
    let backend = crate::lb::backend_sg::backend_sg("prod").name;
    let got = summary(&s, &ObservedStack::default());
    assert_eq!(
        got[..3],
        [
            format!(
                "create security group {}",
                s.security_group.as_ref().unwrap().name
            ),
            format!("create shared backend security group {backend}"),
            format!(
                "admit shared backend security group {backend} (new) on the nodes' group {NODES}"
            ),
        ]
    );
    assert_eq!(got.len(), 3 + 3 + 1 + 2 + 2, "{got:?}");
}

#[test]
fn the_shared_backend_security_group_table() {
    let s = stack_with(true);
    let name = crate::lb::backend_sg::backend_sg("prod").name;
    type Case = (&'static str, fn(&mut ObservedStack), Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "absent: created, admitted and put on the load balancer",
            |o| {
                o.backend_sg = Some(ObservedBackendSg::default());
                let lb = o.load_balancer.as_mut().unwrap();
                lb.actual.security_groups.retain(|g| g != BACKEND);
            },
            vec!["createBackendSg", "admitBackendSg", "modifyLoadBalancer"],
        ),
        (
            "the ALB's own rule from before is revoked once it carries the group",
            |o| {
                let rule = tcp(8080, 8080).rule_from(FRONT);
                o.backend_sg.as_mut().unwrap().node_rules.push(rule);
            },
            vec!["revokeFrontendAdmission"],
        ),
        (
            "a narrower range is widened",
            |o| o.backend_sg.as_mut().unwrap().node_rules = vec![tcp(80, 80).rule_from(BACKEND)],
            vec!["admitBackendSg"],
        ),
    ];
    for (case, change, want) in cases {
        let mut observed = applied(&s);
        change(&mut observed);
        let got = changes(&s, &observed);
        let kinds: Vec<String> = got
            .iter()
            .map(|c| serde_json::to_value(c).unwrap()["change"].to_string())
            .map(|k| k.trim_matches('"').to_string())
            .collect();
        assert_eq!(kinds, want, "{case}");
        for c in &got {
            match c {
                Change::AdmitBackendSg {
                    authorize,
                    revoke,
                    backend_sg,
                    ..
                } if case.starts_with("a narrower") => {
                    assert_eq!(backend_sg, &Ref::Existing(BACKEND.into()));
                    assert_eq!(
                        (authorize, revoke),
                        (&vec![tcp(80, 8080)], &vec![tcp(80, 80)])
                    );
                }
                Change::ModifyLoadBalancer {
                    security_groups, ..
                } => assert_eq!(
                    security_groups.as_ref().unwrap(),
                    &vec![
                        Ref::Existing("sg-0123".into()),
                        Ref::Existing(FRONT.into()),
                        Ref::New(name.clone()),
                    ]
                ),
                Change::RevokeFrontendAdmission { revoke, .. } => {
                    assert_eq!(revoke, &vec![tcp(8080, 8080)])
                }
                _ => {}
            }
        }
    }
}
