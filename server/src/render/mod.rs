//! The renderer: turns a version's effective configuration (project templates and variables,
//! version overrides, built-ins) into the exact Helm values of each configuration template.
//! Templates use MiniJinja (`{{ VAR }}` like the original), sandboxed: no loader (so no
//! `include`/`import`), no file or network access, strict undefined, bounded fuel, output and
//! memory (`sandbox` rewrites the template so that everything that builds values goes through
//! the bounded runtime in `limits`). Pure: no I/O, so it is unit- and property-tested in isolation.

pub mod helpers;
pub mod limits;
pub mod sandbox;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// Variables O-Neko provides. User variables may not use these names.
pub const BUILTINS: &[&str] = &[
    "PROJECT_NAME",
    "ONEKO_PROJECT",
    "VERSION_NAME",
    "ONEKO_VERSION",
    "SAFE_VERSION_NAME",
    "URLS",
    "IMAGE",
    "IMAGE_REPOSITORY",
    "IMAGE_TAG",
    "IMAGE_DIGEST",
    "NAMESPACE",
    "RELEASE_NAME",
    "IMAGE_PULL_SECRET",
];
/// Largest accepted template source.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;
/// Largest accepted rendered values document.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Evaluation budget per template: stops runaway loops.
const FUEL: u64 = 2_000_000;

/// The original's `SAFE_VERSION_NAME`: every character that is not an ASCII letter or digit
/// removed, lower-cased, at most 63 characters.
pub fn safe_version_name(tag: &str) -> String {
    tag.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(63)
        .collect()
}

/// Checks a user variable name: an identifier (`[A-Za-z_][A-Za-z0-9_]*`, ≤ 64) and not a built-in.
pub fn check_variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if !valid {
        return Err(format!(
            "'{name}' is not a valid variable name: use letters, digits and '_', starting with a letter or '_'"
        ));
    }
    if BUILTINS.contains(&name) || name == "fn" {
        return Err(format!(
            "'{name}' is a built-in variable and cannot be defined or overridden"
        ));
    }
    Ok(())
}

/// What O-Neko knows about the version being rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Builtins {
    pub project_name: String,
    pub project_id: String,
    pub version_name: String,
    pub version_id: String,
    /// `host[:port]/path/name` without tag or digest.
    pub image_repository: String,
    /// The manifest digest of the tag, when known.
    pub image_digest: Option<String>,
    pub namespace: String,
    /// The name of the image pull secret O-Neko creates; empty for anonymous registries.
    pub pull_secret: String,
}

/// A user variable's default, as the project defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub name: String,
    pub default_value: String,
}

/// One configuration template to render (already merged: version overrides project by name).
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub name: String,
    pub release_name: String,
    pub content: String,
}

/// Everything the renderer needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderRequest {
    pub builtins: Builtins,
    /// The version's URL templates if it has any, else the project's.
    pub url_templates: Vec<String>,
    pub variables: Vec<Variable>,
    /// The version's values for user variables and its extra variables.
    pub version_values: BTreeMap<String, String>,
    pub templates: Vec<Template>,
}

/// One rendered template.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedTemplate {
    pub name: String,
    pub release_name: String,
    /// The Helm values document, validated as a YAML mapping.
    pub values: String,
}

/// The renderer's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Effective variables (string-valued; `URLS` is in `urls`), sorted by name.
    pub variables: BTreeMap<String, String>,
    /// The URLs to show as links: only those that are http(s) links (see `app::model::link_href`).
    pub urls: Vec<String>,
    /// Why a rendered URL is not in `urls` (it stays in `URLS` for the templates).
    pub url_warnings: Vec<String>,
    pub templates: Vec<RenderedTemplate>,
    /// SHA-256 over everything above: when it differs from the deployed one, the version is outdated.
    pub hash: String,
}

/// Why rendering failed, with the place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// A template refers to variables that do not exist.
    Undefined {
        template: String,
        variables: Vec<String>,
        line: Option<usize>,
    },
    /// Template syntax or evaluation error.
    Template {
        template: String,
        line: Option<usize>,
        message: String,
    },
    /// The rendered values are not a valid YAML mapping.
    Yaml {
        template: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Source or output over the size limit.
    TooLarge { template: String, limit: usize },
    /// A value, or all values together, would grow past a memory limit while rendering.
    Limit {
        template: String,
        line: Option<usize>,
        message: String,
    },
    /// A version value for a built-in or an invalid name.
    Variable { name: String, message: String },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |line: &Option<usize>| line.map(|l| format!(", line {l}")).unwrap_or_default();
        match self {
            RenderError::Undefined {
                template,
                variables,
                line,
            } => {
                write!(
                    f,
                    "template '{template}'{}: undefined variable {}",
                    at(line),
                    variables.join(", ")
                )
            }
            RenderError::Template {
                template,
                line,
                message,
            } => {
                write!(f, "template '{template}'{}: {message}", at(line))
            }
            RenderError::Yaml {
                template,
                line,
                column,
                message,
            } => write!(
                f,
                "template '{template}' does not render to valid YAML (line {line}, column {column}): {message}"
            ),
            RenderError::TooLarge { template, limit } => {
                write!(f, "template '{template}' is too large: over {} KiB", limit / 1024)
            }
            RenderError::Limit {
                template,
                line,
                message,
            } => write!(f, "template '{template}'{}: {message}", at(line)),
            RenderError::Variable { name, message } => write!(f, "variable '{name}': {message}"),
        }
    }
}

impl std::error::Error for RenderError {}

fn environment() -> Environment<'static> {
    // Empty: only the bounded filters, tests and functions of `limits` exist.
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(100);
    env.set_keep_trailing_newline(true);
    // Error details stay small: no dumps of the values in scope.
    env.set_debug(false);
    // Values are YAML, not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    limits::install(&mut env);
    env
}

/// Collects the output and refuses to grow past `MAX_OUTPUT_BYTES`, so an oversized document
/// fails while it is written, not after.
struct Sink {
    buf: Vec<u8>,
    overflow: bool,
}

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + bytes.len() > MAX_OUTPUT_BYTES {
            self.overflow = true;
            return Err(std::io::Error::other("output limit reached"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks a template's syntax and that it uses only what O-Neko's renderer supports, without
/// rendering it: `line N: message`.
pub fn check_syntax(source: &str) -> Option<String> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Some(format!("larger than {} KiB", MAX_TEMPLATE_BYTES / 1024));
    }
    sandbox::check(source)
        .err()
        .map(|r| format!("line {}: {}", r.line, r.message))
}

/// Renders one source with `ctx`, naming undefined variables precisely.
fn render_one(
    env: &Environment<'_>,
    name: &str,
    source: &str,
    ctx: &BTreeMap<String, Value>,
) -> Result<String, RenderError> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(RenderError::TooLarge {
            template: name.into(),
            limit: MAX_TEMPLATE_BYTES,
        });
    }
    let template_err = |e: minijinja::Error| {
        let message = e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| e.kind().to_string());
        if message.starts_with(limits::LIMIT_PREFIX) {
            RenderError::Limit {
                template: name.into(),
                line: e.line(),
                message,
            }
        } else {
            RenderError::Template {
                template: name.into(),
                line: e.line(),
                message,
            }
        }
    };
    let rewritten = sandbox::prepare(source).map_err(|r| RenderError::Template {
        template: name.into(),
        line: Some(r.line),
        message: r.message,
    })?;
    let tmpl = env
        .template_from_named_str(name, &rewritten)
        .map_err(template_err)?;
    let mut sink = Sink {
        buf: Vec::new(),
        overflow: false,
    };
    // A panic in the engine (MiniJinja has had some on odd input) is this template's error,
    // not the end of the request or of the deploy worker that rendered it.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tmpl.render_captured_to(ctx, &mut sink).map(drop)
    }))
    .map_err(|_| RenderError::Template {
        template: name.into(),
        line: None,
        message: "the template engine failed on this template".into(),
    })?;
    if sink.overflow {
        return Err(RenderError::TooLarge {
            template: name.into(),
            limit: MAX_OUTPUT_BYTES,
        });
    }
    match result {
        Ok(()) => String::from_utf8(sink.buf).map_err(|_| RenderError::Template {
            template: name.into(),
            line: None,
            message: "the output is not UTF-8".into(),
        }),
        Err(e) if e.kind() == ErrorKind::UndefinedError => {
            let missing: Vec<String> = tmpl
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| {
                    !ctx.contains_key(v)
                        && !v.starts_with(sandbox::PREFIX)
                        && env.globals().all(|(g, _)| g != v)
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if missing.is_empty() {
                Err(template_err(e))
            } else {
                Err(RenderError::Undefined {
                    template: name.into(),
                    variables: missing,
                    line: e.line(),
                })
            }
        }
        Err(e) => Err(template_err(e)),
    }
}

/// Parses rendered values: one YAML mapping (or nothing). Alias bombs hit the parser's
/// repetition limit and are refused like any other invalid document.
pub fn check_values(template: &str, values: &str) -> Result<(), RenderError> {
    let yaml_err = |e: serde_norway::Error| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        RenderError::Yaml {
            template: template.into(),
            line,
            column,
            message: e.to_string(),
        }
    };
    let parsed: serde_norway::Value = serde_norway::from_str(values).map_err(yaml_err)?;
    match parsed {
        serde_norway::Value::Mapping(_) | serde_norway::Value::Null => Ok(()),
        other => Err(RenderError::Yaml {
            template: template.into(),
            line: 1,
            column: 1,
            message: format!("Helm values must be a mapping, not {}", yaml_kind(&other)),
        }),
    }
}

fn yaml_kind(v: &serde_norway::Value) -> &'static str {
    match v {
        serde_norway::Value::Sequence(_) => "a list",
        serde_norway::Value::String(_) => "a string",
        serde_norway::Value::Number(_) => "a number",
        serde_norway::Value::Bool(_) => "a boolean",
        _ => "a scalar",
    }
}

/// Checks a template as it is typed: its syntax, that it uses only built-ins and the given
/// variables, and that it renders to a YAML mapping when every variable holds a sample value.
pub fn lint(name: &str, content: &str, variables: &[String]) -> Result<(), RenderError> {
    let env = environment();
    let mut ctx: BTreeMap<String, Value> = BUILTINS
        .iter()
        .map(|b| b.to_string())
        .chain(variables.iter().cloned())
        .map(|n| (n, Value::from("sample")))
        .collect();
    ctx.insert(
        "URLS".into(),
        limits::string_list(&vec!["sample.example.com".to_owned(); 16]),
    );
    ctx.insert("fn".into(), Value::from_object(helpers::Helpers));
    let values = render_one(&env, name, content, &ctx)?;
    check_values(name, &values)
}

/// Renders every template of a version.
pub fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
    let env = environment();
    let b = &req.builtins;
    let image = match &b.image_digest {
        Some(d) => format!("{}:{}@{d}", b.image_repository, b.version_name),
        None => format!("{}:{}", b.image_repository, b.version_name),
    };
    // Built-ins available everywhere (URL templates see only these and `fn`).
    let mut builtins: BTreeMap<String, String> = BTreeMap::from([
        ("PROJECT_NAME".into(), b.project_name.clone()),
        ("ONEKO_PROJECT".into(), b.project_id.clone()),
        ("VERSION_NAME".into(), b.version_name.clone()),
        ("ONEKO_VERSION".into(), b.version_id.clone()),
        ("SAFE_VERSION_NAME".into(), safe_version_name(&b.version_name)),
        ("IMAGE".into(), image),
        ("IMAGE_REPOSITORY".into(), b.image_repository.clone()),
        ("IMAGE_TAG".into(), b.version_name.clone()),
        ("IMAGE_DIGEST".into(), b.image_digest.clone().unwrap_or_default()),
        ("NAMESPACE".into(), b.namespace.clone()),
        ("IMAGE_PULL_SECRET".into(), b.pull_secret.clone()),
    ]);
    let to_ctx = |vars: &BTreeMap<String, String>| -> BTreeMap<String, Value> {
        let mut ctx: BTreeMap<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        ctx.insert("fn".into(), Value::from_object(helpers::Helpers));
        ctx
    };

    let url_ctx = to_ctx(&builtins);
    let urls = req
        .url_templates
        .iter()
        .enumerate()
        .map(|(i, t)| {
            render_one(&env, &format!("URL template {}", i + 1), t, &url_ctx).map(|u| u.trim().to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Precedence: project defaults < built-ins < version values (user variables only).
    let mut variables: BTreeMap<String, String> = req
        .variables
        .iter()
        .map(|v| (v.name.clone(), v.default_value.clone()))
        .collect();
    variables.append(&mut builtins);
    for (name, value) in &req.version_values {
        check_variable_name(name).map_err(|message| RenderError::Variable {
            name: name.clone(),
            message,
        })?;
        variables.insert(name.clone(), value.clone());
    }

    let mut ctx = to_ctx(&variables);
    ctx.insert("URLS".into(), limits::string_list(&urls));
    let mut templates = vec![];
    for t in &req.templates {
        ctx.insert("RELEASE_NAME".into(), Value::from(t.release_name.clone()));
        let values = render_one(&env, &t.name, &t.content, &ctx)?;
        check_values(&t.name, &values)?;
        templates.push(RenderedTemplate {
            name: t.name.clone(),
            release_name: t.release_name.clone(),
            values,
        });
    }

    let mut hasher = Sha256::new();
    for (k, v) in &variables {
        hasher.update(format!("var\0{k}\0{v}\0"));
    }
    for u in &urls {
        hasher.update(format!("url\0{u}\0"));
    }
    for t in &templates {
        hasher.update(format!("tpl\0{}\0{}\0{}\0", t.name, t.release_name, t.values));
    }
    let hash = format!("sha256:{:x}", hasher.finalize());
    // Stored URL templates from before the check on saving may render other links: they are
    // not shown (the templates still see them in `URLS`, so deployments do not change).
    let mut url_warnings = vec![];
    let urls = urls
        .into_iter()
        .enumerate()
        .filter_map(|(i, u)| match url_problem(&u) {
            None => Some(u),
            Some(problem) => {
                let warning = format!("URL template {}: {problem}; it is not shown", i + 1);
                tracing::warn!(project = %b.project_name, version = %b.version_name, "{warning}");
                url_warnings.push(warning);
                None
            }
        })
        .collect();
    Ok(Rendered {
        variables,
        urls,
        url_warnings,
        templates,
        hash,
    })
}

/// Why a rendered URL may not be shown as a link, if it may not.
fn url_problem(url: &str) -> Option<String> {
    if app::model::link_href(url).is_some() {
        return None;
    }
    let shown: String = url.chars().take(100).collect();
    let more = if shown.len() < url.len() { "…" } else { "" };
    Some(format!(
        "it renders '{shown}{more}', which is not an http:// or https:// link to a host"
    ))
}

/// Checks a URL template when it is saved: rendered with sample built-ins, it must give an
/// http(s) link (`javascript:…` is refused). Other rendering problems show in the preview.
pub fn check_url_template(source: &str) -> Result<(), String> {
    let env = environment();
    let mut ctx: BTreeMap<String, Value> = BUILTINS
        .iter()
        .filter(|b| **b != "URLS")
        .map(|b| (b.to_string(), Value::from("sample")))
        .collect();
    ctx.insert("fn".into(), Value::from_object(helpers::Helpers));
    match render_one(&env, "URL template", source, &ctx) {
        Ok(url) => url_problem(url.trim()).map_or(Ok(()), |p| Err(format!("This URL template {p}."))),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
