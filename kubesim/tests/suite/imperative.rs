//! kubectl's imperative generators (`create configmap|secret|namespace|deployment`, `run`,
//! `expose`), which send and read Kubernetes protobuf, against the embedded API.

use crate::{start_cluster, start_kubectl};

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
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("  a: b") && yaml.contains("uid:"),
        "{yaml}"
    );

    let out = k
        .ok(&["create", "secret", "generic", "made", "--from-literal=a=b"])
        .await;
    assert!(out.contains("secret/made created"), "{out}");
    let yaml = k.ok(&["get", "secret", "made", "-o", "yaml"]).await;
    // "b" in base64: the bytes field went through protobuf as bytes, not as text.
    assert!(
        yaml.contains("  a: Yg==") && yaml.contains("type: Opaque"),
        "{yaml}"
    );

    let out = k.ok(&["create", "namespace", "made"]).await;
    assert!(out.contains("namespace/made created"), "{out}");
    let yaml = k.ok(&["get", "namespace", "made", "-o", "yaml"]).await;
    assert!(
        yaml.contains("name: made") && yaml.contains("phase: Active"),
        "{yaml}"
    );

    let out = k
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=8080",
        ])
        .await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let yaml = k.ok(&["get", "deployment", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("replicas: 2")
            && yaml.contains("image: nginx:1.27")
            && yaml.contains("containerPort: 8080")
            && yaml.contains("app: web"),
        "{yaml}"
    );

    let out = k
        .ok(&["run", "one", "--image=busybox:1.36", "--labels=run=one"])
        .await;
    assert!(out.contains("pod/one created"), "{out}");
    let yaml = k.ok(&["get", "pod", "one", "-o", "yaml"]).await;
    assert!(
        yaml.contains("image: busybox:1.36") && yaml.contains("run: one"),
        "{yaml}"
    );

    let out = k
        .ok(&[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ])
        .await;
    assert!(out.contains("service/web exposed"), "{out}");
    let yaml = k.ok(&["get", "service", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("port: 80")
            && yaml.contains("targetPort: 8080")
            && yaml.contains("clusterIP: 10.100.")
            && yaml.contains("app: web"),
        "{yaml}"
    );
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
        .ok(&[
            "get",
            "service",
            "one-np",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .await;
    let port: u16 = port.trim().parse().expect("a node port");
    assert!((30000..=32767).contains(&port), "{port}");

    let _ = std::fs::remove_dir_all(dir);
}
