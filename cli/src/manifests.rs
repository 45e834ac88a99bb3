//! Loading manifests the way `kubectl apply -f` reads them: files or directories, YAML or
//! JSON, several documents per file, `kind: List` expanded.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// One object from a manifest, with where it came from for error messages.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: String,
    pub object: Value,
}

impl Document {
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }

    /// `Kind/name` as kubectl prints it.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind().to_ascii_lowercase(), self.name())
    }

    /// Apply order: namespaces and CRDs before the objects that need them.
    fn rank(&self) -> u8 {
        match self.kind() {
            "Namespace" => 0,
            "CustomResourceDefinition" => 1,
            "ServiceAccount" | "ConfigMap" | "Secret" | "IngressClass" => 2,
            _ => 3,
        }
    }
}

/// Every manifest file under `paths` (directories: their `.yaml`, `.yml` and `.json` files, in
/// name order, not recursing), parsed into documents in apply order.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        docs.extend(parse(&text, &file)?);
    }
    // A stable sort keeps the files' order within each rank.
    docs.sort_by_key(Document::rank);
    Ok(docs)
}

/// The documents of one file's text.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let source = format!("{} (document {})", file.display(), index + 1);
        let value = serde_yaml::Value::deserialize(de)
            .with_context(|| format!("{source}: invalid YAML"))?;
        let json: Value = serde_json::to_value(value)
            .with_context(|| format!("{source}: not representable as JSON"))?;
        if json.is_null() {
            continue;
        }
        push_object(json, &source, &mut out)?;
    }
    Ok(out)
}

fn push_object(json: Value, source: &str, out: &mut Vec<Document>) -> Result<()> {
    if !json.is_object() {
        bail!("{source}: a manifest document must be a mapping");
    }
    if json["kind"] == "List" {
        for item in json["items"].as_array().cloned().unwrap_or_default() {
            push_object(item, source, out)?;
        }
        return Ok(());
    }
    let doc = Document {
        source: source.to_string(),
        object: json,
    };
    if doc.api_version().is_empty() || doc.kind().is_empty() {
        bail!("{source}: apiVersion and kind are required");
    }
    if doc.name().is_empty() {
        bail!("{source}: metadata.name is required for {}", doc.kind());
    }
    out.push(doc);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_document_yaml_lists_and_orders_namespaces_first() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n\
                    ---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let dir = std::env::temp_dir().join(format!("cloudnet-manifests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), text).unwrap();
        std::fs::write(dir.join("ignored.txt"), "not yaml").unwrap();
        let docs = load(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<String> = docs.iter().map(Document::display_name).collect();
        assert_eq!(names, vec!["namespace/shop", "configmap/a", "service/web"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_documents_say_where_they_are() {
        let f = Path::new("x.yaml");
        let err = parse("kind: Service\nmetadata: {name: a}\n", f).unwrap_err();
        assert!(
            err.to_string()
                .contains("x.yaml (document 1): apiVersion and kind are required"),
            "{err}"
        );
        let err = parse("apiVersion: v1\nkind: Pod\nmetadata: {}\n", f).unwrap_err();
        assert!(
            err.to_string().contains("metadata.name is required"),
            "{err}"
        );
        let err = parse("a: [\n", f).unwrap_err();
        assert!(format!("{err:#}").contains("invalid YAML"), "{err:#}");
        let err = parse("- 1\n- 2\n", f).unwrap_err();
        assert!(err.to_string().contains("must be a mapping"), "{err}");
    }
}
