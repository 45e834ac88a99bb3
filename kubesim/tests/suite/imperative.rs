//! kubectl's imperative generators (`create configmap|secret|namespace|deployment`, `run`,
//! `expose`), which send and read Kubernetes protobuf, against the embedded API.

use crate::{assert_contains, start_cluster, start_kubectl};

/// A kubectl command, its answer, the object it made (kind, name) and what its YAML shows.
type Case<'a> = (&'a [&'a str], &'a str, [&'a str; 2], &'a [&'a str]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_commands_speak_protobuf() {
    let Some((handle, _client, k)) = start_kubectl().await else {
        return;
    };
    let dir = k.dir();
    let _sim = start_cluster(&handle, "m5.large", 29);

    // The request and the answer are both protobuf, as kubectl 1.32 negotiates them.
    let (ok, out, log) = k
        .run(&["create", "configmap", "made", "--from-literal=a=b", "-v=8"])
        .await;
    assert!(ok && out.contains("configmap/made created"), "{out}\n{log}");
    assert_eq!(
        log.matches("Content-Type: application/vnd.kubernetes.protobuf")
            .count(),
        2,
        "kubectl sent and got protobuf:\n{log}"
    );
    assert!(log.contains("status=\"201 Created\""), "{log}");
    let yaml = k.ok(&["get", "configmap", "made", "-o", "yaml"]).await;
    assert_contains(&yaml, &["kind: ConfigMap", "  a: b", "uid:"]);

    // Each command, what kubectl answers, and what `get -o yaml` then shows of the object.
    let cases: [Case; 5] = [
        (
            &["create", "secret", "generic", "made", "--from-literal=a=b"],
            "secret/made created",
            ["secret", "made"],
            // "b" in base64: the bytes field went through protobuf as bytes, not as text.
            &["  a: Yg==", "type: Opaque"],
        ),
        (
            &["create", "namespace", "made"],
            "namespace/made created",
            ["namespace", "made"],
            &["name: made", "phase: Active"],
        ),
        (
            &[
                "create",
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--replicas=2",
                "--port=8080",
            ],
            "deployment.apps/web created",
            ["deployment", "web"],
            &[
                "replicas: 2",
                "image: nginx:1.27",
                "containerPort: 8080",
                "app: web",
            ],
        ),
        (
            &["run", "one", "--image=busybox:1.36", "--labels=run=one"],
            "pod/one created",
            ["pod", "one"],
            &["image: busybox:1.36", "run: one"],
        ),
        (
            &[
                "expose",
                "deployment",
                "web",
                "--port=80",
                "--target-port=8080",
            ],
            "service/web exposed",
            ["service", "web"],
            &[
                "port: 80",
                "targetPort: 8080",
                "clusterIP: 10.100.",
                "app: web",
            ],
        ),
    ];
    for (command, answer, [kind, name], shown) in cases {
        let out = k.ok(command).await;
        assert!(out.contains(answer), "kubectl {command:?}: {out}");
        let yaml = k.ok(&["get", kind, name, "-o", "yaml"]).await;
        for want in shown {
            assert!(
                yaml.contains(want),
                "kubectl {command:?}: {want:?} in\n{yaml}"
            );
        }
    }
    // kubectl sends nodePort 0 for "allocate one".
    let out = k
        .ok(&[
            "expose",
            "pod",
            "one",
            "--port=80",
            "--type=NodePort",
            "--name=one-np",
        ])
        .await;
    assert!(out.contains("service/one-np exposed"), "{out}");
    let port = k
        .jsonpath("service", "one-np", "{.spec.ports[0].nodePort}")
        .await;
    let port: u16 = port.trim().parse().expect("a node port");
    assert!((30000..=32767).contains(&port), "{port}");

    let _ = std::fs::remove_dir_all(dir);
}
