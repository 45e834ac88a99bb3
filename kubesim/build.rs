//! Compiles the vendored upstream Kubernetes `.proto` files (see `vendor/proto/README.md`) into one
//! `FileDescriptorSet` that the protobuf codec loads at run time, so the wire format comes
//! from the real schemas and not from hand-written code.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/authorization/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/events/v1/generated.proto",
    "k8s.io/api/networking/v1/generated.proto",
    "k8s.io/api/rbac/v1/generated.proto",
    "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto",
    "k8s.io/apimachinery/pkg/runtime/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=vendor/proto");
    let set = protox::compile(FILES, ["vendor/proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("kubernetes.binpb");
    std::fs::write(out, set.encode_to_vec())?;
    Ok(())
}
