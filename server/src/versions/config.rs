//! Configuration: validating a project's templates and variables and a version's overrides,
//! merging them (version wins by template name, order kept), naming namespaces and releases,
//! and rendering the result with `render`.

use crate::{
    auth::Validator,
    render::{self, Builtins, RenderRequest, Template, Variable, check_variable_name},
};
use app::{
    error::AppError,
    model::{
        ConfigPreview, ConfigTemplate, ProjectConfig, RenderedTemplate, TemplateVariable, VersionOverrides,
    },
};
use std::collections::{BTreeMap, HashSet};

pub use crate::db::parse_stored;

const MAX_URL_TEMPLATES: usize = 20;
const MAX_TEMPLATES: usize = 20;
const MAX_VARIABLES: usize = 200;
const MAX_SELECT_VALUES: usize = 100;
const MAX_VALUE: usize = 4096;

/// Checks template syntax (and that only what the renderer supports is used) without rendering;
/// undefined variables are found by rendering.
fn syntax_error(source: &str) -> Option<String> {
    render::check_syntax(source)
}

fn check_templates(v: &mut Validator, prefix: &str, templates: &[ConfigTemplate]) {
    if templates.len() > MAX_TEMPLATES {
        v.fail(prefix, format!("At most {MAX_TEMPLATES} templates."));
    }
    let mut names = HashSet::new();
    for (i, t) in templates.iter().enumerate() {
        let field = |f: &str| format!("{prefix}[{i}].{f}");
        let name = t.name.trim();
        if name.is_empty() {
            v.fail(&field("name"), "Enter a template name.");
        } else if name.len() > 50
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            v.fail(&field("name"), "Up to 50 letters, digits, '-', '_' or '.'.");
        } else if !names.insert(name.to_owned()) {
            v.fail(&field("name"), format!("Another template is named '{name}'."));
        }
        if t.description.chars().count() > 1000 {
            v.fail(&field("description"), "At most 1000 characters.");
        }
        if t.chart_name.trim().is_empty() {
            v.fail(&field("chart_name"), "Enter the chart's name.");
        } else if t.chart_name.len() > 200
            || t.chart_name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            v.fail(
                &field("chart_name"),
                "A chart name has no spaces (at most 200 characters).",
            );
        }
        if t.chart_version.len() > 100
            || t.chart_version
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            v.fail(
                &field("chart_version"),
                "A version has no spaces (at most 100 characters).",
            );
        }
        if t.content.len() > render::MAX_TEMPLATE_BYTES {
            v.fail(
                &field("content"),
                format!("At most {} KiB.", render::MAX_TEMPLATE_BYTES / 1024),
            );
        } else if let Some(e) = syntax_error(&t.content) {
            v.fail(&field("content"), format!("Template syntax error, {e}"));
        }
    }
}

fn check_url_templates(v: &mut Validator, urls: &[String]) {
    if urls.len() > MAX_URL_TEMPLATES {
        v.fail(
            "url_templates",
            format!("At most {MAX_URL_TEMPLATES} URL templates."),
        );
    }
    for (i, u) in urls.iter().enumerate() {
        if u.trim().is_empty() || u.len() > 1000 {
            v.fail(
                &format!("url_templates[{i}]"),
                "Enter a URL template of at most 1000 characters.",
            );
        } else if let Some(e) = syntax_error(u) {
            v.fail(
                &format!("url_templates[{i}]"),
                format!("Template syntax error, {e}"),
            );
        } else if let Err(e) = render::check_url_template(u) {
            v.fail(&format!("url_templates[{i}]"), e);
        }
    }
}

/// Validates and normalises (trims names) a project's configuration.
pub fn validate_project_config(mut c: ProjectConfig) -> Result<ProjectConfig, AppError> {
    let mut v = Validator::default();
    c.url_templates.iter_mut().for_each(|u| *u = u.trim().to_owned());
    check_url_templates(&mut v, &c.url_templates);
    for t in &mut c.templates {
        t.name = t.name.trim().to_owned();
        t.chart_name = t.chart_name.trim().to_owned();
        t.chart_version = t.chart_version.trim().to_owned();
    }
    check_templates(&mut v, "templates", &c.templates);
    if c.variables.len() > MAX_VARIABLES {
        v.fail("variables", format!("At most {MAX_VARIABLES} variables."));
    }
    let mut names = HashSet::new();
    for (i, var) in c.variables.iter_mut().enumerate() {
        let field = |f: &str| format!("variables[{i}].{f}");
        var.name = var.name.trim().to_owned();
        var.label = var.label.trim().to_owned();
        if let Err(e) = check_variable_name(&var.name) {
            v.fail(&field("name"), e);
        } else if !names.insert(var.name.clone()) {
            v.fail(
                &field("name"),
                format!("Another variable is named '{}'.", var.name),
            );
        }
        if var.label.chars().count() > 100 {
            v.fail(&field("label"), "At most 100 characters.");
        }
        if var.default_value.len() > MAX_VALUE {
            v.fail(&field("default_value"), format!("At most {MAX_VALUE} bytes."));
        }
        if var.use_values {
            var.values.retain(|x| !x.is_empty());
            let distinct: HashSet<&String> = var.values.iter().collect();
            if var.values.is_empty() {
                v.fail(&field("values"), "A select variable needs at least one value.");
            } else if var.values.len() > MAX_SELECT_VALUES || var.values.iter().any(|x| x.len() > MAX_VALUE) {
                v.fail(
                    &field("values"),
                    format!("At most {MAX_SELECT_VALUES} values of at most {MAX_VALUE} bytes."),
                );
            } else if distinct.len() != var.values.len() {
                v.fail(&field("values"), "Each value may appear only once.");
            } else if !var.values.contains(&var.default_value) {
                v.fail(&field("default_value"), "The default must be one of the values.");
            }
        } else {
            var.values.clear();
            var.show_on_dashboard = false;
        }
    }
    v.finish()?;
    Ok(c)
}

/// Validates a version's overrides against its project's configuration.
pub fn validate_overrides(
    mut o: VersionOverrides,
    project: &ProjectConfig,
) -> Result<VersionOverrides, AppError> {
    let mut v = Validator::default();
    // The same bounds as the project form's (a lifetime arrives as JSON here).
    if let Some(l) = o.lifetime
        && let Err(e) = l.encode().parse::<app::model::Lifetime>()
    {
        v.fail("lifetime", e);
    }
    o.url_templates.iter_mut().for_each(|u| *u = u.trim().to_owned());
    o.url_templates.retain(|u| !u.is_empty());
    check_url_templates(&mut v, &o.url_templates);
    for t in &mut o.templates {
        t.name = t.name.trim().to_owned();
        t.chart_name = t.chart_name.trim().to_owned();
        t.chart_version = t.chart_version.trim().to_owned();
    }
    check_templates(&mut v, "templates", &o.templates);
    if o.values.len() > MAX_VARIABLES {
        v.fail("values", format!("At most {MAX_VARIABLES} values."));
    }
    for (name, value) in &o.values {
        let field = format!("values.{name}");
        if let Err(e) = check_variable_name(name) {
            v.fail(&field, e);
        } else if value.len() > MAX_VALUE {
            v.fail(&field, format!("At most {MAX_VALUE} bytes."));
        } else if let Some(var) = project.variables.iter().find(|x| &x.name == name)
            && var.use_values
            && !var.values.contains(value)
        {
            v.fail(
                &field,
                format!(
                    "'{value}' is not one of the allowed values: {}",
                    var.values.join(", ")
                ),
            );
        }
    }
    v.finish()?;
    Ok(o)
}

/// The select values a VIEWER may set: only dashboard select variables, only allowed values.
/// Returns the version's new value map.
pub fn apply_select_values(
    project: &ProjectConfig,
    current: &BTreeMap<String, String>,
    changes: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AppError> {
    let mut v = Validator::default();
    let mut values = current.clone();
    for (name, value) in changes {
        let field = format!("values.{name}");
        match project.variables.iter().find(|x| &x.name == name) {
            Some(var) if var.use_values && var.show_on_dashboard => {
                if var.values.contains(value) {
                    values.insert(name.clone(), value.clone());
                } else {
                    v.fail(
                        &field,
                        format!(
                            "'{value}' is not one of the allowed values: {}",
                            var.values.join(", ")
                        ),
                    );
                }
            }
            _ => v.fail(
                &field,
                format!("'{name}' is not a select variable shown on the dashboard"),
            ),
        }
    }
    v.finish()?;
    Ok(values)
}

/// Kubernetes-name sanitising as the original does it: lower-case, `_` → `-`, other characters
/// outside `[a-z0-9-]` dropped.
fn sanitize(s: &str) -> String {
    s.to_lowercase()
        .replace('_', "-")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

use crate::names::{NAMESPACE_PREFIX, PULL_SECRET_PREFIX};

fn trim_dashes(s: &str) -> String {
    s.trim_matches('-').to_owned()
}

/// The namespace of a deployed version: `on-<project>-<version>`, a valid DNS label of at most
/// 63 characters. A name that had to be cut short ends in a hash of the whole, so two versions
/// whose names share a long beginning never share a namespace.
pub fn version_namespace(project: &str, version: &str) -> String {
    let full = trim_dashes(&sanitize(&format!("{project}-{version}")));
    if full.is_empty() {
        return format!("{NAMESPACE_PREFIX}version");
    }
    if full.len() <= 60 {
        return format!("{NAMESPACE_PREFIX}{full}");
    }
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(format!("{project}\n{version}")));
    let head: String = full.chars().take(53).collect();
    format!("{NAMESPACE_PREFIX}{}-{}", trim_dashes(&head), &hash[..6])
}

/// The image pull secret O-Neko creates for a registry: `o-neko-pull-<registry>`, a valid name.
pub fn pull_secret_name(registry: &str) -> String {
    let name: String = trim_dashes(&sanitize(registry)).chars().take(50).collect();
    let name = trim_dashes(&name);
    if name.is_empty() {
        PULL_SECRET_PREFIX.into()
    } else {
        format!("{PULL_SECRET_PREFIX}-{name}")
    }
}

/// A template's Helm release name: the template's name, sanitised, at most 53 characters (Helm's
/// limit); unique within a deployment because template names are. In a shared namespace the
/// project's and version's names follow, so two versions' releases never collide there (a name
/// cut short ends in a hash of the whole).
pub fn release_name(template: &str, shared_by_version: Option<&str>) -> String {
    let full = match shared_by_version {
        None => trim_dashes(&sanitize(template)),
        Some(version) => trim_dashes(&sanitize(&format!("{template}-{version}"))),
    };
    if full.is_empty() {
        return "release".into();
    }
    if full.len() <= 53 {
        return full;
    }
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(format!("{template}\n{shared_by_version:?}")));
    let head: String = full.chars().take(46).collect();
    format!("{}-{}", trim_dashes(&head), &hash[..6])
}

/// Merges by name: version templates override project templates of the same name (keeping the
/// project's order) and add new ones after them. Each comes with its origin.
pub fn merge_templates(
    project: &[ConfigTemplate],
    version: &[ConfigTemplate],
) -> Vec<(ConfigTemplate, &'static str)> {
    let mut out: Vec<(ConfigTemplate, &'static str)> = project
        .iter()
        .map(|t| match version.iter().find(|o| o.name == t.name) {
            Some(o) => (o.clone(), "override"),
            None => (t.clone(), "project"),
        })
        .collect();
    for t in version {
        if !project.iter().any(|p| p.name == t.name) {
            out.push((t.clone(), "version"));
        }
    }
    out
}

/// What the renderer needs to know about the version, besides configuration.
#[derive(Debug)]
pub struct VersionFacts {
    pub project_id: i64,
    pub project_name: String,
    pub version_id: i64,
    pub version_name: String,
    /// Registry host and repository, e.g. `registry.example.com/team/app`.
    pub image_repository: String,
    pub image_digest: Option<String>,
    /// The project's defined namespace; `None`: the version's own `on-` namespace.
    pub namespace: Option<String>,
    /// The image pull secret's name; empty when the registry needs no credentials.
    pub pull_secret: String,
}

/// Renders a version's effective configuration into a preview (an error is part of it).
pub fn preview(facts: &VersionFacts, project: &ProjectConfig, overrides: &VersionOverrides) -> ConfigPreview {
    let namespace = facts
        .namespace
        .clone()
        .unwrap_or_else(|| version_namespace(&facts.project_name, &facts.version_name));
    let merged = merge_templates(&project.templates, &overrides.templates);
    let req = RenderRequest {
        builtins: Builtins {
            project_name: facts.project_name.clone(),
            project_id: facts.project_id.to_string(),
            version_name: facts.version_name.clone(),
            version_id: facts.version_id.to_string(),
            image_repository: facts.image_repository.clone(),
            image_digest: facts.image_digest.clone(),
            namespace: namespace.clone(),
            pull_secret: facts.pull_secret.clone(),
        },
        url_templates: if overrides.url_templates.is_empty() {
            project.url_templates.clone()
        } else {
            overrides.url_templates.clone()
        },
        variables: project
            .variables
            .iter()
            .map(|v| Variable {
                name: v.name.clone(),
                default_value: v.default_value.clone(),
            })
            .collect(),
        version_values: overrides.values.clone(),
        templates: merged
            .iter()
            .map(|(t, _)| Template {
                name: t.name.clone(),
                release_name: release_name(
                    &t.name,
                    facts
                        .namespace
                        .as_ref()
                        .map(|_| format!("{}-{}", facts.project_name, facts.version_name))
                        .as_deref(),
                ),
                content: t.content.clone(),
            })
            .collect(),
    };
    let merged_charts: Vec<(Option<i64>, String, String)> = merged
        .iter()
        .map(|(t, _)| (t.helm_registry, t.chart_name.clone(), t.chart_version.clone()))
        .collect();
    match render::render(&req) {
        Ok(r) => ConfigPreview {
            variables: r.variables.into_iter().collect(),
            urls: r.urls,
            templates: r
                .templates
                .into_iter()
                .zip(merged)
                .map(|(rt, (t, origin))| RenderedTemplate {
                    name: rt.name,
                    release_name: rt.release_name,
                    chart: if t.chart_version.is_empty() {
                        format!("{} (latest)", t.chart_name)
                    } else {
                        format!("{} {}", t.chart_name, t.chart_version)
                    },
                    origin: origin.into(),
                    values: rt.values,
                    manifests: None,
                    manifests_error: None,
                })
                .collect(),
            namespace,
            hash: Some(deploy_hash(&r.hash, &merged_charts)),
            error: None,
        },
        Err(e) => ConfigPreview {
            variables: vec![],
            urls: vec![],
            templates: vec![],
            namespace,
            hash: None,
            error: Some(e.to_string()),
        },
    }
}

/// What a deployment is compared by: the rendered values and variables, and each template's
/// chart (registry, name, requested version). A deployed version whose hash differs is outdated.
fn deploy_hash(rendered: &str, charts: &[(Option<i64>, String, String)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(rendered.as_bytes());
    for (registry, chart, version) in charts {
        h.update(format!("\0chart\0{registry:?}\0{chart}\0{version}").as_bytes());
    }
    format!("sha256:{:x}", h.finalize())
}

/// A variable's label for people.
pub fn label(v: &TemplateVariable) -> &str {
    if v.label.is_empty() { &v.name } else { &v.label }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpl(name: &str, content: &str) -> ConfigTemplate {
        ConfigTemplate {
            name: name.into(),
            chart_name: "nginx".into(),
            content: content.into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_original_rules() {
        assert_eq!(version_namespace("Hallo", "Welt"), "on-hallo-welt");
        assert_eq!(version_namespace("bR.o-o_Oo.T", "x"), "on-bro-o-oot-x");
        assert_eq!(version_namespace("__a_b-c__d__", "_"), "on-a-b-c--d");
        let long = version_namespace("project", &"v".repeat(100));
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
        // Cut short, the names still differ.
        let other = version_namespace("project", &format!("{}w", "v".repeat(99)));
        assert!(other.len() <= 63 && other != long, "{other} vs {long}");
        assert_eq!(
            version_namespace("shop", &"v".repeat(55)),
            format!("on-shop-{}", "v".repeat(55))
        );
        assert_eq!(pull_secret_name("Docker Hub_EU"), "o-neko-pull-dockerhub-eu");
        assert_eq!(release_name("Web_App", None), "web-app");
        assert_eq!(release_name("web", Some("Feature/X_1")), "web-featurex-1");
        let a = release_name("web", Some(&"a".repeat(60)));
        let b = release_name("web", Some(&format!("{}b", "a".repeat(59))));
        assert!(a.len() <= 53 && b.len() <= 53 && a != b, "{a} {b}");
    }

    fn facts(namespace: Option<&str>) -> VersionFacts {
        VersionFacts {
            project_id: 3,
            project_name: "shop".into(),
            version_id: 7,
            version_name: "feature/login".into(),
            image_repository: "registry.example.com/team/shop".into(),
            image_digest: Some("sha256:ab12".into()),
            namespace: namespace.map(Into::into),
            pull_secret: String::new(),
        }
    }

    fn config(templates: Vec<ConfigTemplate>) -> ProjectConfig {
        ProjectConfig {
            templates,
            ..Default::default()
        }
    }

    #[test]
    fn a_preview_renders_each_template_with_the_versions_facts() {
        let project = config(vec![tpl(
            "web",
            "ns: {{ NAMESPACE }}\nrelease: {{ RELEASE_NAME }}\nimage: {{ IMAGE }}\n",
        )]);
        let p = preview(&facts(None), &project, &VersionOverrides::default());
        assert_eq!(p.error, None);
        assert_eq!(p.namespace, version_namespace("shop", "feature/login"));
        let [t] = &p.templates[..] else {
            panic!("{:?}", p.templates)
        };
        assert_eq!((t.name.as_str(), t.release_name.as_str()), ("web", "web"));
        assert_eq!(t.origin, "project");
        assert_eq!(t.chart, "nginx (latest)");
        assert!(t.values.contains(&format!("ns: {}", p.namespace)), "{}", t.values);
        assert!(t.values.contains("release: web"), "{}", t.values);
        assert!(
            t.values.contains("registry.example.com/team/shop"),
            "{}",
            t.values
        );
    }

    #[test]
    fn in_a_defined_namespace_release_names_carry_the_version() {
        let project = config(vec![tpl("web", "ns: {{ NAMESPACE }}\n")]);
        let p = preview(&facts(Some("on-shared")), &project, &VersionOverrides::default());
        assert_eq!(p.namespace, "on-shared");
        assert_eq!(
            p.templates[0].release_name,
            release_name("web", Some("shop-feature/login"))
        );
        assert_ne!(
            p.templates[0].release_name, "web",
            "two versions would share a release"
        );
    }

    #[test]
    fn the_deploy_hash_follows_values_and_charts_only() {
        let project = config(vec![tpl("web", "a: 1\n")]);
        let none = VersionOverrides::default();
        let hash = |p: &ProjectConfig, f: &VersionFacts| preview(f, p, &none).hash.unwrap();
        let base = hash(&project, &facts(None));
        assert!(base.starts_with("sha256:"), "{base}");
        assert_eq!(hash(&project, &facts(None)), base, "same input, same hash");
        let mut pinned = project.clone();
        pinned.templates[0].chart_version = "1.2.3".into();
        assert_ne!(hash(&pinned, &facts(None)), base, "another chart version");
        assert_ne!(
            hash(&config(vec![tpl("web", "a: 2\n")]), &facts(None)),
            base,
            "other values"
        );
    }

    #[test]
    fn a_version_override_replaces_the_template_and_a_render_error_is_part_of_the_preview() {
        let project = config(vec![tpl("web", "a: 1\n")]);
        let overrides = VersionOverrides {
            templates: vec![tpl("web", "a: {{ 1 + 1 }}\n")],
            ..Default::default()
        };
        let p = preview(&facts(None), &project, &overrides);
        assert_eq!(p.templates[0].origin, "override");
        assert!(
            p.templates[0].values.contains("a: 2"),
            "{}",
            p.templates[0].values
        );

        let broken = config(vec![tpl("web", "a: {{ 1 + }}\n")]);
        let p = preview(&facts(None), &broken, &VersionOverrides::default());
        assert!(
            p.error.as_deref().is_some_and(|e| e.contains("web")),
            "{:?}",
            p.error
        );
        assert!(p.templates.is_empty() && p.hash.is_none());
        assert_eq!(p.namespace, version_namespace("shop", "feature/login"));
    }

    #[test]
    fn version_templates_override_by_name_and_add() {
        let project = vec![tpl("a", "a: 1"), tpl("b", "b: 1")];
        let version = vec![tpl("c", "c: 1"), tpl("a", "a: 2")];
        let merged = merge_templates(&project, &version);
        let summary: Vec<(&str, &str, &str)> = merged
            .iter()
            .map(|(t, o)| (t.name.as_str(), t.content.as_str(), *o))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "a: 2", "override"),
                ("b", "b: 1", "project"),
                ("c", "c: 1", "version")
            ]
        );
    }

    #[test]
    fn select_values_are_checked() {
        let project = ProjectConfig {
            variables: vec![
                TemplateVariable {
                    name: "BACKEND".into(),
                    default_value: "a".into(),
                    use_values: true,
                    values: vec!["a".into(), "b".into()],
                    show_on_dashboard: true,
                    ..Default::default()
                },
                TemplateVariable {
                    name: "FREE".into(),
                    default_value: "x".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let none = BTreeMap::new();
        let ok =
            apply_select_values(&project, &none, &BTreeMap::from([("BACKEND".into(), "b".into())])).unwrap();
        assert_eq!(ok["BACKEND"], "b");
        for (name, value) in [
            ("BACKEND", "c"),
            ("FREE", "y"),
            ("IMAGE_TAG", "evil"),
            ("VERSION_NAME", "x"),
        ] {
            let e = apply_select_values(&project, &none, &BTreeMap::from([(name.into(), value.into())]));
            assert!(e.is_err(), "{name}={value} must be refused");
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        let bad = ProjectConfig {
            url_templates: vec!["{{ unclosed".into()],
            templates: vec![tpl("web", "a: {{ X"), tpl("web", "b: 1")],
            variables: vec![
                TemplateVariable {
                    name: "IMAGE_TAG".into(),
                    ..Default::default()
                },
                TemplateVariable {
                    name: "SEL".into(),
                    use_values: true,
                    values: vec!["a".into()],
                    default_value: "z".into(),
                    ..Default::default()
                },
            ],
        };
        let AppError::Invalid { fields } = validate_project_config(bad).unwrap_err() else {
            panic!("not a field error")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "url_templates[0]",
                "templates[0].content",
                "templates[1].name",
                "variables[0].name",
                "variables[1].default_value"
            ]
        );
    }
}
