//! Creating and changing a project: validating the form, the defined namespace it may use, and
//! what changed, for the activity log.

use super::SqlProjects;
use crate::{
    activity::{self, Entry},
    auth::Validator,
    cluster::policy,
    db::entity::{docker_registry, namespace, project},
    error::Doing,
    registry::tags::TagFilter,
};
use app::{
    error::AppError,
    model::{CurrentUser, Lifetime, Project, ProjectId, ProjectInput, RedeployPolicy, Severity},
    ssr::Projects,
};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

/// A validated form.
pub(super) struct Valid {
    name: String,
    registry: i64,
    image_repository: String,
    redeploy_policy: RedeployPolicy,
    lifetime: Lifetime,
    poll_interval_secs: Option<i32>,
}

/// Image repository paths as the Distribution spec defines them (lower-case path components).
fn repository_pattern() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
        )
        .expect("valid pattern")
    })
}

pub(super) fn validate(input: &ProjectInput) -> Result<Valid, AppError> {
    let mut v = Validator::default();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        v.fail("name", "Enter a name.");
    } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
        v.fail("name", "At most 100 characters, no control characters.");
    }
    if input.registry.is_none() {
        v.fail("registry", "Choose the Docker registry the image is in.");
    }
    let repo = input.image_repository.trim().trim_matches('/').to_owned();
    if repo.is_empty() {
        v.fail("image_repository", "Enter the image repository, e.g. team/app.");
    } else if repo.len() > 255 || !repository_pattern().is_match(&repo) {
        let hint = if repo.contains(':') || repo.contains('@') {
            " Leave out the tag: every tag becomes a version."
        } else if repo.split('/').next().is_some_and(|h| h.contains('.')) {
            " Leave out the registry host: it comes from the chosen registry."
        } else {
            ""
        };
        v.fail(
            "image_repository",
            format!("Lower-case path components separated by /, e.g. team/app.{hint}"),
        );
    }
    let redeploy_policy = input
        .redeploy_policy
        .parse::<RedeployPolicy>()
        .map_err(|e| v.fail("redeploy_policy", e))
        .ok();
    let lifetime = input
        .lifetime
        .parse::<Lifetime>()
        .map_err(|e| v.fail("lifetime", e))
        .ok();
    if let Err((field, e)) = TagFilter::new(&input.tag_include, &input.tag_exclude, true) {
        v.fail(&format!("tag_{field}"), format!("This is {e}"));
    }
    let interval = input.poll_interval_secs.trim();
    let poll_interval_secs = if interval.is_empty() {
        None
    } else {
        match interval.parse::<i32>() {
            Ok(s) if (5..=86_400).contains(&s) => Some(s),
            _ => {
                v.fail(
                    "poll_interval_secs",
                    "Seconds between 5 and 86400, or empty for the default.",
                );
                None
            }
        }
    };
    v.finish()?;
    Ok(Valid {
        name,
        registry: input.registry.map_or(0, |r| r.0),
        image_repository: repo,
        redeploy_policy: redeploy_policy.unwrap_or(RedeployPolicy::Manual),
        lifetime: lifetime.unwrap_or(Lifetime::Infinite),
        poll_interval_secs,
    })
}

/// What changed between a project and its new form (`registry`: the chosen registry's id), as
/// "field old → new" for the activity log; and whether its tags must be polled again (image or
/// tag filter changed).
fn changes(
    old: &project::Model,
    valid: &Valid,
    input: &ProjectInput,
    registry: i64,
    namespace: Option<&str>,
) -> (Vec<String>, bool) {
    // What changed, for the activity log: "lifetime days:2 → hours:5".
    let secs = |s: Option<i32>| s.map_or("default".to_string(), |s| format!("{s} s"));
    let fields: [(&str, String, String); 8] = [
        ("name", old.name.clone(), valid.name.clone()),
        (
            "registry",
            format!("#{}", old.docker_registry_id),
            format!("#{registry}"),
        ),
        (
            "image",
            old.image_repository.clone(),
            valid.image_repository.clone(),
        ),
        (
            "redeploy policy",
            old.redeploy_policy.clone(),
            valid.redeploy_policy.as_str().into(),
        ),
        ("lifetime", old.lifetime.clone(), valid.lifetime.encode()),
        (
            "tag filter",
            format!(
                "{} / {} / {}",
                old.tag_include, old.tag_exclude, old.ignore_signature_tags
            ),
            format!(
                "{} / {} / {}",
                input.tag_include.trim(),
                input.tag_exclude.trim(),
                input.ignore_signature_tags
            ),
        ),
        (
            "poll interval",
            secs(old.poll_interval_secs),
            secs(valid.poll_interval_secs),
        ),
        (
            "namespace",
            old.namespace.clone().unwrap_or_else(|| "per version".into()),
            namespace.unwrap_or("per version").to_owned(),
        ),
    ];
    let changed: Vec<String> = fields
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(f, a, b)| format!("{f} {a} → {b}"))
        .collect();
    let source_changed = old.docker_registry_id != registry
        || old.image_repository != valid.image_repository
        || old.tag_include != input.tag_include.trim()
        || old.tag_exclude != input.tag_exclude.trim()
        || old.ignore_signature_tags != input.ignore_signature_tags;
    (changed, source_changed)
}

/// A new project's row from its validated form.
fn new_project(
    valid: &Valid,
    input: &ProjectInput,
    registry: i64,
    namespace: Option<String>,
) -> project::ActiveModel {
    let now = Utc::now();
    project::ActiveModel {
        name: Set(valid.name.clone()),
        docker_registry_id: Set(registry),
        image_repository: Set(valid.image_repository.clone()),
        redeploy_policy: Set(valid.redeploy_policy.as_str().into()),
        lifetime: Set(valid.lifetime.encode()),
        tag_include: Set(input.tag_include.trim().to_owned()),
        tag_exclude: Set(input.tag_exclude.trim().to_owned()),
        ignore_signature_tags: Set(input.ignore_signature_tags),
        poll_interval_secs: Set(valid.poll_interval_secs),
        namespace: Set(namespace),
        last_poll_at: Set(None),
        last_poll_ok_at: Set(None),
        last_poll_error: Set(None),
        poll_failures: Set(0),
        next_poll_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

impl SqlProjects {
    /// The defined namespace a form names (blank: each version its own).
    async fn defined_namespace(&self, input: &ProjectInput) -> Result<Option<String>, AppError> {
        let name = input.namespace.trim();
        if name.is_empty() {
            return Ok(None);
        }
        let known = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name))
            .one(&self.db)
            .await
            .doing("reading namespaces")?;
        if known.is_none() {
            return Err(AppError::invalid(
                "namespace",
                format!("{name} is not a defined namespace; an ADMIN defines namespaces."),
            ));
        }
        Ok(Some(name.to_owned()))
    }

    /// Creates a project or changes one, with its activity entry.
    pub(super) async fn save_project(
        &self,
        actor: &CurrentUser,
        input: ProjectInput,
    ) -> Result<Project, AppError> {
        let valid = validate(&input)?;
        let namespace = self.defined_namespace(&input).await?;
        let txn = crate::db::begin_write(&self.db).await.doing("saving project")?;
        let existing = match input.id {
            Some(id) => Some(
                project::Entity::find_by_id(id.0)
                    .one(&txn)
                    .await
                    .doing("saving project")?
                    .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))?,
            ),
            None => None,
        };
        // A defined namespace must be one the project's deployment policy allows.
        if let Some(ns) = &namespace {
            let policy = existing.as_ref().map(policy::of_project).unwrap_or_default();
            if !policy::allows_namespace(&policy, ns) {
                return Err(AppError::invalid(
                    "namespace",
                    format!(
                        "{ns} is not allowed by this project's deployment policy; an ADMIN can allow it on the project page."
                    ),
                ));
            }
        }
        let Some(registry) = docker_registry::Entity::find_by_id(valid.registry)
            .one(&txn)
            .await
            .doing("saving project")?
        else {
            return Err(AppError::invalid(
                "registry",
                "That Docker registry no longer exists.",
            ));
        };
        let columns = (project::Column::Name, project::Column::Id);
        let own = existing.as_ref().map(|m| m.id);
        crate::db::refuse_taken_name::<project::Entity, _>(&txn, columns, &valid.name, own, "A project")
            .await?;
        let now = Utc::now();
        let (saved, kind, message) = match existing {
            None => {
                let m = new_project(&valid, &input, registry.id, namespace.clone())
                    .insert(&txn)
                    .await
                    .doing("saving project")?;
                let message = format!(
                    "Project {} created for {}/{}",
                    m.name, registry.name, m.image_repository
                );
                (m, "project.created", message)
            }
            Some(old) => {
                let (changed, source_changed) =
                    changes(&old, &valid, &input, registry.id, namespace.as_deref());
                let mut am: project::ActiveModel = old.clone().into();
                am.name = Set(valid.name.clone());
                am.docker_registry_id = Set(registry.id);
                am.image_repository = Set(valid.image_repository.clone());
                am.redeploy_policy = Set(valid.redeploy_policy.as_str().into());
                am.lifetime = Set(valid.lifetime.encode());
                am.tag_include = Set(input.tag_include.trim().to_owned());
                am.tag_exclude = Set(input.tag_exclude.trim().to_owned());
                am.ignore_signature_tags = Set(input.ignore_signature_tags);
                am.poll_interval_secs = Set(valid.poll_interval_secs);
                am.namespace = Set(namespace.clone());
                if source_changed {
                    // The next poll applies the new image or filter at once.
                    am.next_poll_at = Set(None);
                }
                am.updated_at = Set(now);
                let m = am.update(&txn).await.doing("saving project")?;
                let what = if changed.is_empty() {
                    "nothing changed".to_string()
                } else {
                    changed.join(", ")
                };
                let message = if source_changed {
                    format!(
                        "Project {} changed: {what}; image {}/{}, tag filter applies on the next poll",
                        m.name, registry.name, m.image_repository
                    )
                } else {
                    format!("Project {} changed: {what}", m.name)
                };
                (m, "project.changed", message)
            }
        };
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind,
                subject: &saved.name,
                message,
                severity: Severity::Info,
                project: Some(saved.id),
            },
        )
        .await
        .doing("saving project")?;
        txn.commit().await.doing("saving project")?;
        self.poller.wake();
        self.deployer.lifetime_changed(saved.id).await?;
        self.get(ProjectId(saved.id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::DockerRegistryId;

    fn input() -> ProjectInput {
        ProjectInput {
            id: None,
            name: "Shop".into(),
            registry: Some(DockerRegistryId(1)),
            image_repository: "team/shop".into(),
            redeploy_policy: "manual".into(),
            lifetime: Lifetime::Infinite.encode(),
            tag_include: String::new(),
            tag_exclude: String::new(),
            ignore_signature_tags: true,
            poll_interval_secs: String::new(),
            namespace: String::new(),
        }
    }

    /// The stored project the form `input()` creates.
    fn stored() -> project::Model {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        project::Model {
            id: 7,
            name: "Shop".into(),
            docker_registry_id: 1,
            image_repository: "team/shop".into(),
            redeploy_policy: "manual".into(),
            lifetime: Lifetime::Infinite.encode(),
            tag_include: String::new(),
            tag_exclude: String::new(),
            ignore_signature_tags: true,
            poll_interval_secs: None,
            last_poll_at: None,
            last_poll_ok_at: None,
            last_poll_error: None,
            poll_failures: 0,
            next_poll_at: None,
            config: None,
            namespace: None,
            deleting_at: None,
            policy_kinds: None,
            policy_cluster_kinds: None,
            policy_namespaces: None,
            pod_security: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn the_same_form_changes_nothing() {
        let form = input();
        let valid = validate(&form).unwrap();
        assert_eq!(changes(&stored(), &valid, &form, 1, None), (vec![], false));
    }

    #[test]
    fn changes_are_named_and_a_new_image_or_filter_polls_again() {
        let mut form = input();
        form.name = "Shop 2".into();
        form.poll_interval_secs = "60".into();
        let valid = validate(&form).unwrap();
        let (changed, poll) = changes(&stored(), &valid, &form, 1, Some("shared"));
        assert_eq!(
            changed,
            [
                "name Shop → Shop 2",
                "poll interval default → 60 s",
                "namespace per version → shared"
            ]
        );
        assert!(!poll, "name, interval and namespace need no new poll");
        form.tag_include = "^main$".into();
        let valid = validate(&form).unwrap();
        let (changed, poll) = changes(&stored(), &valid, &form, 2, None);
        assert!(changed.contains(&"registry #1 → #2".to_string()), "{changed:?}");
        assert!(
            changed
                .iter()
                .any(|c| c.starts_with("tag filter  /  / true → ^main$ /  / true")),
            "{changed:?}"
        );
        assert!(poll);
    }

    #[test]
    fn a_repository_with_a_tag_or_host_is_refused_with_a_hint() {
        let mut form = input();
        form.image_repository = "team/shop:main".into();
        let err = validate(&form).err().unwrap().field("image_repository").unwrap();
        assert!(err.contains("Leave out the tag"), "{err}");
        // Upper case is not a repository path; a first component with a dot reads as a host.
        form.image_repository = "Registry.Example/team/shop".into();
        let err = validate(&form).err().unwrap().field("image_repository").unwrap();
        assert!(err.contains("Leave out the registry host"), "{err}");
    }
}
