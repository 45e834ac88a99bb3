//! Golden files for the model tests: `tests/golden/<dir>/<name>.json` under the crate;
//! `UPDATE_GOLDEN=1 cargo test -p cloudnet-controllers` rewrites them (review the diff before
//! committing).

use std::path::PathBuf;

/// Compares `value`, as pretty JSON, with its golden file (or rewrites the file).
pub fn check(dir: &str, name: &str, value: &impl serde::Serialize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir)
        .join(format!("{name}.json"));
    let got = serde_json::to_string_pretty(value).expect("serialize") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "{} differs (UPDATE_GOLDEN=1 to rewrite):\n{got}",
        path.display()
    );
}
