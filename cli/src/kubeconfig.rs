//! The sandbox's kubeconfig files: kube's own type, written owner-only (they hold a bearer
//! token) and never over another user's file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

/// The kubeconfig of `identity` on the sandbox's API, as kube's own type (what kube and
/// kubectl read), so no hand-written YAML can drift from the format.
pub fn kubeconfig_for(
    server: &str,
    ca_pem: Option<&str>,
    identity: &str,
    token: &str,
) -> Kubeconfig {
    let context = format!("{identity}@kubesim");
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: "kubesim".into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                certificate_authority_data: ca_pem
                    .map(|pem| base64::engine::general_purpose::STANDARD.encode(pem)),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: identity.into(),
            auth_info: Some(AuthInfo {
                token: Some(token.to_string().into()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(KubeContext {
                cluster: "kubesim".into(),
                user: Some(identity.into()),
                namespace: Some("default".into()),
                ..KubeContext::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context),
        ..Kubeconfig::default()
    }
}

/// Writes `config` to `path` readable and writable by its owner only: it holds a bearer
/// token. The file is written next to `path` and renamed over it, so an existing file's
/// looser mode does not carry over and a reader never sees half a file. A file owned by
/// another user is refused: it is theirs, and replacing it would hand them our token's
/// place in their tools.
pub fn write_private_kubeconfig(path: &Path, config: &Kubeconfig) -> Result<()> {
    let yaml = serde_yaml::to_string(config).context("cannot serialise the kubeconfig")?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file =
        private_file(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = (|| -> Result<()> {
        refuse_foreign_owner(path, &file)?;
        file.write_all(yaml.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Fails when `path` exists and belongs to someone other than the owner of `ours` (a file
/// this process just created, which tells our user id without asking the OS by name).
#[cfg(unix)]
fn refuse_foreign_owner(path: &Path, ours: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = ours
        .metadata()
        .context("cannot read our own file's owner")?
        .uid();
    match std::fs::symlink_metadata(path) {
        Ok(existing) => owner_check(path, existing.uid(), me),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
}

#[cfg(not(unix))]
fn refuse_foreign_owner(_path: &Path, _ours: &std::fs::File) -> Result<()> {
    Ok(())
}

fn owner_check(path: &Path, owner: u32, me: u32) -> Result<()> {
    if owner == me {
        Ok(())
    } else {
        anyhow::bail!(
            "refusing to overwrite the kubeconfig {}: it belongs to user {owner}, not to this user ({me}); \
             choose another path with --kubeconfig",
            path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cloudnet-kubeconfig-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sample() -> Kubeconfig {
        kubeconfig_for(
            "https://127.0.0.1:6443",
            Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            "admin",
            "s3cret-token",
        )
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_kubeconfig_reads_back_with_kube() {
        let dir = scratch("read");
        let path = dir.join("kubeconfig");
        write_private_kubeconfig(&path, &sample()).unwrap();
        let back = Kubeconfig::read_from(&path).unwrap();
        assert_eq!(back.current_context.as_deref(), Some("admin@kubesim"));
        let cluster = back.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        let ca = base64::engine::general_purpose::STANDARD
            .decode(cluster.certificate_authority_data.as_deref().unwrap())
            .unwrap();
        assert!(
            String::from_utf8(ca)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("token: s3cret-token"), "{text}");
        assert_eq!(
            back.contexts[0].context.as_ref().unwrap().user.as_deref(),
            Some("admin")
        );
        // Nothing but the file is left in the directory.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_even_over_a_world_readable_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let path = dir.join("kubeconfig");
        write_private_kubeconfig(&path, &sample()).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_kubeconfig(&path, &sample()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_ne!(std::fs::read_to_string(&path).unwrap(), "old");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_users_file_is_refused_by_owner() {
        let p = Path::new("/x/kubeconfig");
        assert!(owner_check(p, 1000, 1000).is_ok());
        let e = owner_check(p, 0, 1000).unwrap_err().to_string();
        assert!(
            e.contains("refusing to overwrite the kubeconfig /x/kubeconfig"),
            "{e}"
        );
        assert!(e.contains("belongs to user 0"), "{e}");
    }

    /// The whole path: a file another user owns is left as it is. Making such a file needs
    /// root (chown); the test machines run the suite as root.
    #[cfg(unix)]
    #[test]
    fn another_users_file_is_left_untouched() {
        let dir = scratch("foreign");
        let path = dir.join("kubeconfig");
        std::fs::write(&path, "theirs").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534))
            .expect("chown needs root: the suite runs as root");
        let e = write_private_kubeconfig(&path, &sample())
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to user 65534"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
