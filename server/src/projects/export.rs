//! Project export and import in the original O-Neko's JSON format (`ProjectExportDTO`, export
//! format version 1), so projects move between installations and from the original. Fields the
//! original does not know travel in an `oneko` block that it ignores.

use app::model::{
    ConfigTemplate, Lifetime, Project, ProjectConfig, ProjectPolicy, RedeployPolicy, TemplateVariable,
};
use serde::{Deserialize, Serialize};

/// The export format version this server writes and reads (the original's `SUPPORTED_VERSION`).
pub const FORMAT_VERSION: i64 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectExport {
    pub name: String,
    pub image_name: String,
    #[serde(default)]
    pub new_versions_deployment_behaviour: Option<String>,
    #[serde(default)]
    pub url_templates: Vec<String>,
    #[serde(default)]
    pub default_configuration_templates: Vec<TemplateExport>,
    #[serde(default)]
    pub template_variables: Vec<VariableExport>,
    #[serde(default, rename = "dockerRegistryUUID")]
    pub docker_registry_uuid: Option<String>,
    #[serde(default)]
    pub default_lifetime_behaviour: Option<LifetimeExport>,
    pub export_metadata: ExportMetadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oneko: Option<Extension>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateExport {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub helm_registry_id: Option<String>,
    /// `<helm repository name>/<chart>` like the original's helm search names.
    #[serde(default)]
    pub chart_name: String,
    #[serde(default)]
    pub chart_version: Option<String>,
    /// Ours: the Helm registry's name, to find it in another installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_registry_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableExport {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub use_values: bool,
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default)]
    pub show_on_dashboard: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LifetimeExport {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub value: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetadata {
    pub version: i64,
    #[serde(default)]
    pub exported_at: Option<String>,
}

/// What this O-Neko adds to the format.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Extension {
    pub docker_registry_name: Option<String>,
    /// Our lifetime encoding (`hours:N` has no counterpart in the original).
    pub lifetime: Option<String>,
    pub tag_include: String,
    pub tag_exclude: String,
    pub ignore_signature_tags: Option<bool>,
    pub poll_interval_secs: Option<u32>,
    /// The deployment policy; an import takes it over only when an ADMIN imports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<ProjectPolicy>,
}

/// The original's Helm repository name for a registry name: trimmed, spaces to `_`, lower case.
pub fn repo_name(name: &str) -> String {
    name.trim().replace(' ', "_").to_lowercase()
}

fn lifetime_out(l: Lifetime) -> Option<LifetimeExport> {
    let (kind, value) = match l {
        Lifetime::Infinite => ("INFINITE", None),
        Lifetime::Days(n) => ("DAYS", Some(i64::from(n))),
        // The original counts only days; round up so nothing stops earlier than configured.
        Lifetime::Hours(n) => ("DAYS", Some(i64::from(n.div_ceil(24)))),
        Lifetime::UntilTonight => ("UNTIL_TONIGHT", None),
        Lifetime::UntilWeekend => ("UNTIL_WEEKEND", None),
        // The original has no fixed moment; the exact lifetime travels in the `oneko` block.
        Lifetime::At(_) => ("INFINITE", None),
    };
    Some(LifetimeExport {
        kind: Some(kind.into()),
        value,
    })
}

/// The original's lifetime in our encoding (`INHERIT` and absence mean "until stopped" for a
/// project, which has nothing to inherit from).
pub fn lifetime_in(l: Option<&LifetimeExport>) -> Result<String, String> {
    let Some(l) = l else { return Ok("infinite".into()) };
    match l.kind.as_deref().unwrap_or("DAYS") {
        "INFINITE" | "INHERIT" => Ok("infinite".into()),
        "UNTIL_TONIGHT" => Ok("tonight".into()),
        "UNTIL_WEEKEND" => Ok("weekend".into()),
        "DAYS" => match l.value.unwrap_or(0) {
            0 => Ok("infinite".into()),
            n => Ok(format!("days:{n}")),
        },
        other => Err(format!("unknown lifetime type {other}")),
    }
}

/// Builds the export of a project. `helm_names` maps Helm registry ids to names.
pub fn export(
    p: &Project,
    config: &ProjectConfig,
    helm_names: &std::collections::HashMap<i64, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> ProjectExport {
    ProjectExport {
        name: p.name.clone(),
        image_name: p.image_repository.clone(),
        new_versions_deployment_behaviour: Some(
            match p.redeploy_policy {
                RedeployPolicy::Automatic => "automatically",
                RedeployPolicy::Manual => "manually",
            }
            .into(),
        ),
        url_templates: config.url_templates.clone(),
        default_configuration_templates: config
            .templates
            .iter()
            .map(|t| {
                let name = t.helm_registry.and_then(|id| helm_names.get(&id).cloned());
                TemplateExport {
                    name: t.name.clone(),
                    description: Some(t.description.clone()),
                    content: t.content.clone(),
                    helm_registry_id: t.helm_registry.map(|id| id.to_string()),
                    chart_name: match &name {
                        Some(n) => format!("{}/{}", repo_name(n), t.chart_name),
                        None => t.chart_name.clone(),
                    },
                    chart_version: Some(t.chart_version.clone()),
                    helm_registry_name: name,
                }
            })
            .collect(),
        template_variables: config
            .variables
            .iter()
            .map(|v| VariableExport {
                name: v.name.clone(),
                label: Some(v.label.clone()),
                values: v.values.clone(),
                use_values: v.use_values,
                default_value: Some(v.default_value.clone()),
                show_on_dashboard: v.show_on_dashboard,
            })
            .collect(),
        docker_registry_uuid: Some(p.registry.id.0.to_string()),
        default_lifetime_behaviour: lifetime_out(p.lifetime),
        export_metadata: ExportMetadata {
            version: FORMAT_VERSION,
            exported_at: Some(now.to_rfc3339()),
        },
        oneko: Some(Extension {
            docker_registry_name: Some(p.registry.name.clone()),
            lifetime: Some(p.lifetime.encode()),
            tag_include: p.tag_include.clone(),
            tag_exclude: p.tag_exclude.clone(),
            ignore_signature_tags: Some(p.ignore_signature_tags),
            poll_interval_secs: p.poll_interval_secs,
            policy: None,
        }),
    }
}

/// Turns an export's templates and variables into a configuration. `find_helm` resolves a
/// Helm registry by (name, original repository name); unresolved ones become warnings.
pub fn import_config(
    e: &ProjectExport,
    find_helm: impl Fn(Option<&str>, Option<&str>) -> Option<i64>,
) -> (ProjectConfig, Vec<String>) {
    let mut warnings = vec![];
    let templates = e
        .default_configuration_templates
        .iter()
        .map(|t| {
            let (repo, chart) = match t.chart_name.split_once('/') {
                Some((r, c)) => (Some(r), c.to_owned()),
                None => (None, t.chart_name.clone()),
            };
            let registry = find_helm(t.helm_registry_name.as_deref(), repo);
            if registry.is_none() && (repo.is_some() || t.helm_registry_name.is_some()) {
                warnings.push(format!(
                    "Template {}: Helm registry '{}' is not known here; choose one for it.",
                    t.name,
                    t.helm_registry_name.as_deref().or(repo).unwrap_or_default()
                ));
            }
            ConfigTemplate {
                name: t.name.clone(),
                description: t.description.clone().unwrap_or_default(),
                helm_registry: registry,
                // Without a registry, keep the whole name so nothing is lost.
                chart_name: if registry.is_some() {
                    chart
                } else {
                    t.chart_name.clone()
                },
                chart_version: t.chart_version.clone().unwrap_or_default(),
                content: t.content.clone(),
            }
        })
        .collect();
    let variables = e
        .template_variables
        .iter()
        .map(|v| TemplateVariable {
            name: v.name.clone(),
            label: v.label.clone().unwrap_or_default(),
            default_value: v.default_value.clone().unwrap_or_default(),
            use_values: v.use_values,
            values: v.values.clone(),
            show_on_dashboard: v.show_on_dashboard,
        })
        .collect();
    (
        ProjectConfig {
            url_templates: e.url_templates.clone(),
            templates,
            variables,
        },
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export as the original O-Neko writes it (ids are UUIDs; chart names carry the repo).
    const ORIGINAL: &str = r#"{
      "name": "Shop", "imageName": "team/shop", "newVersionsDeploymentBehaviour": "manually",
      "urlTemplates": ["shop-{{ SAFE_VERSION_NAME }}.example.com"],
      "defaultConfigurationTemplates": [{"id": "5b0c…", "name": "web", "description": "d",
        "content": "tag: {{ VERSION_NAME }}", "helmRegistryId": "9d4e-uuid", "chartName": "team_charts/shop",
        "chartVersion": "1.2.3"}],
      "templateVariables": [{"id": "x", "name": "BACKEND", "label": "Backend", "values": ["a", "b"],
        "useValues": true, "defaultValue": "a", "showOnDashboard": true}],
      "dockerRegistryUUID": "0f1e-uuid", "status": "NotScheduled",
      "defaultLifetimeBehaviour": {"type": "DAYS", "value": 3},
      "exportMetadata": {"version": 1, "exportedAt": "2024-01-01T00:00:00Z"}
    }"#;

    #[test]
    fn reads_the_original_format() {
        let e: ProjectExport = serde_json::from_str(ORIGINAL).unwrap();
        assert_eq!(
            lifetime_in(e.default_lifetime_behaviour.as_ref()).unwrap(),
            "days:3"
        );
        let (config, warnings) = import_config(&e, |name, repo| {
            assert_eq!(name, None);
            (repo == Some("team_charts")).then_some(7)
        });
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.templates[0].helm_registry, Some(7));
        assert_eq!(config.templates[0].chart_name, "shop");
        assert_eq!(config.variables[0].values, ["a", "b"]);
        let (config, warnings) = import_config(&e, |_, _| None);
        assert_eq!(config.templates[0].chart_name, "team_charts/shop");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'team_charts' is not known here"));
    }

    #[test]
    fn lifetimes_both_ways() {
        for (l, kind, value) in [
            (Lifetime::Infinite, "INFINITE", None),
            (Lifetime::Days(2), "DAYS", Some(2)),
            (Lifetime::Hours(25), "DAYS", Some(2)),
            (Lifetime::UntilTonight, "UNTIL_TONIGHT", None),
            (Lifetime::UntilWeekend, "UNTIL_WEEKEND", None),
        ] {
            let out = lifetime_out(l).unwrap();
            assert_eq!((out.kind.as_deref(), out.value), (Some(kind), value));
        }
        let bad = LifetimeExport {
            kind: Some("FOREVER".into()),
            value: None,
        };
        assert!(lifetime_in(Some(&bad)).is_err());
        assert_eq!(repo_name(" Team Charts "), "team_charts");
    }
}
