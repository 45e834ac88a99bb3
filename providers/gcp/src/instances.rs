//! Reading instances: by zone and name, and finding an instance's zone from its name alone.

use cloudnet_core::{Error, Result};
use google_cloud_compute_v1::model::Instance;

use crate::call::methods;
use crate::names::{last_segment, zone_and_instance};
use crate::provider::GcpProvider;

impl GcpProvider {
    /// The zone and name of an instance given as a reference with its zone, or as a bare
    /// name (looked up once with `instances.aggregatedList`, then remembered).
    pub async fn locate_instance(&self, reference: &str) -> Result<(String, String)> {
        if let Some((zone, name)) = zone_and_instance(reference) {
            self.remember_zone(name, zone);
            return Ok((zone.to_string(), name.to_string()));
        }
        let name = reference.trim();
        if name.is_empty() {
            return Err(Error::invalid("an empty instance name"));
        }
        if let Some(zone) = self.known_zone(name) {
            return Ok((zone, name.to_string()));
        }
        let project = self.project().to_string();
        let filter = format!("name = \"{name}\"");
        let pages = self
            .caller()
            .pages(
                methods::INSTANCES_AGGREGATED_LIST,
                |token| {
                    let mut req = self
                        .clients()
                        .instances
                        .aggregated_list()
                        .set_project(project.clone())
                        .set_filter(filter.clone());
                    if let Some(t) = token {
                        req = req.set_page_token(t);
                    }
                    req.send()
                },
                |p| p.next_page_token.as_deref(),
            )
            .await?;
        let mut found: Vec<String> = pages
            .iter()
            .flat_map(|p| p.items.values())
            .flat_map(|scoped| scoped.instances.iter())
            .filter(|i| i.name.as_deref() == Some(name))
            .filter_map(|i| i.zone.as_deref().map(|z| last_segment(z).to_string()))
            .collect();
        found.sort();
        found.dedup();
        match found.as_slice() {
            [zone] => {
                self.remember_zone(name, zone);
                Ok((zone.clone(), name.to_string()))
            }
            [] => Err(Error::NotFound {
                code: "notFound".into(),
                message: format!("no instance named {name} in project {project}"),
            }),
            zones => Err(Error::invalid(format!(
                "instance name {name} is in several zones ({}); give the zone",
                zones.join(", ")
            ))),
        }
    }

    /// One instance, by zone and name.
    pub async fn get_instance(&self, zone: &str, name: &str) -> Result<Instance> {
        let project = self.project();
        self.caller()
            .call(methods::INSTANCES_GET, || {
                self.clients()
                    .instances
                    .get()
                    .set_project(project)
                    .set_zone(zone)
                    .set_instance(name)
                    .send()
            })
            .await
    }
}
