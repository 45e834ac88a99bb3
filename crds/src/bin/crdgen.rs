//! Writes the CRD YAML files from the Rust types next to this crate's Cargo.toml and into the
//! Helm chart's `crds/` (`cloudnet_crds::OUTPUT_DIRS`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for out in cloudnet_crds::OUTPUT_DIRS {
        let dir = crate_dir.join(out);
        std::fs::create_dir_all(&dir)?;
        for (file, crd) in cloudnet_crds::all() {
            let path = dir.join(file);
            std::fs::write(&path, cloudnet_crds::render(&crd)?)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
