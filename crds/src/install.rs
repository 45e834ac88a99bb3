//! Installing the CRDs into a cluster as the Helm chart does: every CRD of [`crate::all`] by
//! server-side apply, each waited on until the API server reports it `Established`. The
//! sandbox and the fault suite install them this way before anything uses the kinds.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{conditions, wait::await_condition};

/// How long one CRD may take to be established.
pub const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the CRDs could not be installed, naming the CRD.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot install the CRD {name}")]
    Apply {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the CRD {name} was not established in {} s", ESTABLISH_TIMEOUT.as_secs())]
    NotEstablished { name: String },
    #[error("cannot watch the CRD {name}")]
    Watch {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
}

/// Applies every CRD with server-side apply as `field_manager` (forcing ownership of the
/// fields, as `helm install` does) and waits for each to be established.
pub async fn install_crds(client: &kube::Client, field_manager: &str) -> Result<(), InstallError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in crate::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|source| InstallError::Apply {
            name: name.clone(),
            source,
        })?;
        tokio::time::timeout(
            ESTABLISH_TIMEOUT,
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| InstallError::NotEstablished { name: name.clone() })?
        .map_err(|source| InstallError::Watch { name, source })?;
    }
    Ok(())
}
