//! Writes the CRD YAML files next to this crate's Cargo.toml from the Rust types.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (file, crd) in cloudnet_crds::all() {
        let path = dir.join(file);
        std::fs::write(&path, cloudnet_crds::render(&crd)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
