//! A version's configuration rendered, one way for every reader: the stored project
//! configuration and version overrides, the facts O-Neko provides, and the values per template
//! (`RenderedVersion::load`); then each template's chart through `helm template`
//! (`template_charts`), with the cluster's version, so "Show configuration" renders exactly what
//! a deploy applies.

use super::{
    config::{self, VersionFacts, parse_stored},
    version_facts,
};
use crate::{
    db::entity::{project, project_version},
    helm::registries::SqlHelmRegistries,
};
use app::{
    error::AppError,
    model::{ConfigPreview, ProjectConfig, VersionOverrides},
};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// A version's configuration with its values rendered.
pub struct RenderedVersion {
    pub project_config: ProjectConfig,
    pub overrides: VersionOverrides,
    pub facts: VersionFacts,
    /// Per template: release name and values; the namespace, URLs, hash, or a render error.
    pub preview: ConfigPreview,
}

/// Previews by what they are made from. Rendering is pure (facts, project configuration and
/// version overrides in; values, URLs and hash out), and the dashboard and the REST API render
/// every version they show on every look: an unchanged version is rendered once.
#[derive(Default)]
pub struct PreviewCache(Mutex<HashMap<[u8; 32], Arc<ConfigPreview>>>);

/// Previews kept before the cache starts over (a few KB each).
const PREVIEWS_KEPT: usize = 2048;

impl PreviewCache {
    /// The version's preview, rendered unless its inputs are unchanged since the last time.
    pub async fn preview(
        &self,
        db: &DatabaseConnection,
        p: &project::Model,
        v: &project_version::Model,
    ) -> Result<Arc<ConfigPreview>, AppError> {
        let overrides: VersionOverrides = parse_stored(v.overrides.as_deref(), "version overrides");
        let facts = version_facts(db, p, v, &overrides).await?;
        let mut hash = Sha256::new();
        hash.update(format!("{facts:?}"));
        for stored in [&p.config, &v.overrides] {
            hash.update([u8::from(stored.is_some())]);
            hash.update(stored.as_deref().unwrap_or_default());
            hash.update([0]);
        }
        let key: [u8; 32] = hash.finalize().into();
        if let Some(hit) = self.0.lock().unwrap().get(&key) {
            return Ok(hit.clone());
        }
        let project_config: ProjectConfig = parse_stored(p.config.as_deref(), "project configuration");
        let preview = Arc::new(config::preview(&facts, &project_config, &overrides));
        let mut kept = self.0.lock().unwrap();
        if kept.len() >= PREVIEWS_KEPT {
            kept.clear();
        }
        kept.insert(key, preview.clone());
        Ok(preview)
    }
}

/// Why a template's chart could not be rendered.
#[derive(Debug, PartialEq)]
pub enum ChartError {
    /// The template names no Helm registry.
    NoRegistry,
    /// Pulling the chart failed.
    Fetch(String),
    /// `helm template` failed.
    Template(String),
}

/// One template's chart, rendered.
#[derive(Debug)]
pub struct ChartOutput {
    /// The template's name (and index in `preview.templates`).
    pub template: String,
    pub index: usize,
    pub chart_name: String,
    /// The chart version pulled, if it was.
    pub pulled: Option<String>,
    /// The manifests as `helm template` printed them.
    pub result: Result<String, ChartError>,
}

impl RenderedVersion {
    /// Reads what the version's configuration is made of and renders its values.
    pub async fn load(
        db: &DatabaseConnection,
        p: &project::Model,
        v: &project_version::Model,
    ) -> Result<Self, AppError> {
        let project_config: ProjectConfig = parse_stored(p.config.as_deref(), "project configuration");
        let overrides: VersionOverrides = parse_stored(v.overrides.as_deref(), "version overrides");
        let facts = version_facts(db, p, v, &overrides).await?;
        let preview = config::preview(&facts, &project_config, &overrides);
        Ok(RenderedVersion {
            project_config,
            overrides,
            facts,
            preview,
        })
    }

    /// Pulls each template's chart and renders it with its values, in template order.
    /// `kube_version`: the cluster's, for charts that check `.Capabilities.KubeVersion`.
    pub async fn template_charts(
        &self,
        helm: &SqlHelmRegistries,
        kube_version: Option<&str>,
    ) -> Vec<ChartOutput> {
        let merged = config::merge_templates(&self.project_config.templates, &self.overrides.templates);
        let mut out = vec![];
        for (index, rendered) in self.preview.templates.iter().enumerate() {
            let Some((t, _)) = merged.iter().find(|(t, _)| t.name == rendered.name) else {
                continue;
            };
            let (pulled, result) = match t.helm_registry {
                None => (None, Err(ChartError::NoRegistry)),
                Some(registry) => match helm.fetch_chart(registry, &t.chart_name, &t.chart_version).await {
                    Err(e) => (None, Err(ChartError::Fetch(e))),
                    Ok(chart) => {
                        let yaml = helm
                            .template(
                                &chart,
                                &rendered.release_name,
                                &self.preview.namespace,
                                &rendered.values,
                                kube_version,
                            )
                            .await
                            .map_err(ChartError::Template);
                        (Some(chart.version), yaml)
                    }
                },
            };
            out.push(ChartOutput {
                template: t.name.clone(),
                index,
                chart_name: t.chart_name.clone(),
                pulled,
                result,
            });
        }
        out
    }
}
