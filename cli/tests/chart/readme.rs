//! The README's "Install on EKS" section says what the chart does: its commands name the chart,
//! the release and the example values that exist, its checks are the ones `NOTES.txt` prints,
//! and the refusal it quotes is helm's.

use std::path::Path;

use super::{chart, eks_values, helm, repo, run, strings, template};

/// The section's text, from its heading to the next.
fn install_section() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("## Install on EKS")
        .expect("README has an Install on EKS section");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

/// What `helm install` prints after NOTES: (client-side dry run; no cluster needed).
fn notes(helm: &Path) -> String {
    let mut args = strings(&["install", "--dry-run=client", "cloudnet"]);
    args.push(chart().display().to_string());
    args.extend(strings(&["-n", "kube-system", "-f", &eks_values()]));
    let out = run(helm, &args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = text.find("NOTES:").expect("helm prints the chart's NOTES");
    text[at..].to_string()
}

#[test]
fn the_readme_install_section_matches_the_chart_and_its_notes() {
    let Some(helm) = helm() else { return };
    let section = install_section();
    assert!(
        section.contains(
            "helm install cloudnet deploy/helm/cloudnet -n kube-system -f values-eks.yaml"
        ),
        "{section}"
    );
    assert!(repo().join("deploy/helm/cloudnet/Chart.yaml").is_file());
    assert!(section.contains("examples/helm/values-eks.yaml"));
    assert!(Path::new(&eks_values()).is_file());
    for named in [
        "deploy/iam/aws/controller-policy.json",
        "deploy/iam/aws/irsa-trust-policy.json",
        "deploy/iam/aws/node-policy.json",
        "system:serviceaccount:kube-system:cloudnet-controller",
    ] {
        assert!(section.contains(named), "the section names {named}");
    }

    // Every check the section lists is one NOTES.txt prints, word for word.
    let notes = notes(&helm);
    let checks: Vec<&str> = section
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kubectl "))
        .collect();
    assert_eq!(checks.len(), 6, "{section}");
    for check in &checks {
        assert!(
            notes.contains(check),
            "NOTES.txt does not print {check:?}:\n{notes}"
        );
    }

    // The refusal it quotes is helm's.
    let quoted = "at '/provider': value must be one of 'aws', 'gcp', 'azure'";
    assert!(section.contains(quoted));
    let err = template(
        &helm,
        &[
            "-n",
            "kube-system",
            "-f",
            &eks_values(),
            "--set",
            "provider=openstack",
        ],
    )
    .unwrap_err();
    assert!(err.contains(quoted), "{err}");
}
