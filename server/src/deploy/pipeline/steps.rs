//! The deploy pipeline's steps, each a method of [`Run`], which holds what every step needs: the
//! version, its namespace and deployment policy, the applier, the labels to stamp.

use super::*;

/// One deploy in progress.
pub(super) struct Run<'a> {
    pub d: &'a Deployer,
    pub p: &'a project::Model,
    pub row: &'a deployment::Model,
    /// The version's id, as its objects' `o-neko.io/version` label holds it.
    pub version: String,
    pub namespace: String,
    /// In an admin-defined namespace that other versions share.
    pub shared: bool,
    pub policy: ProjectPolicy,
    pub applier: Applier,
}

/// The manifests a deploy renders, before anything is applied.
pub(super) struct Rendered {
    pub version: RenderedVersion,
    pub objects: Vec<Manifest>,
    pub skipped_hooks: Vec<String>,
}

/// What a failure after the first write says: how much had been applied, and every object the
/// deployment may now have (the old and the new inventory), so a stop finds them all.
pub(super) struct Partial {
    pub total: usize,
    pub inventory: Vec<ObjectRef>,
}

impl Partial {
    pub fn fail(&self, message: String, done: usize) -> Failure {
        Failure {
            message: if done > 0 {
                format!(
                    "{message}. {done} of {} objects had been applied, so the version may run partly: redeploy or stop it",
                    self.total
                )
            } else {
                message
            },
            kind: FailureKind::Cluster,
            inventory: Some(self.inventory.clone()),
        }
    }
}

/// Refuses values that did not render, and a project without templates.
pub(super) fn renderable(version: &RenderedVersion) -> Result<(), Failure> {
    if let Some(e) = &version.preview.error {
        return Err(format!("the values cannot be rendered: {e}").into());
    }
    if version.preview.templates.is_empty() {
        return Err(Failure::from(
            "the project has no configuration templates, so there is nothing to deploy".to_string(),
        ));
    }
    Ok(())
}

/// Renders each template's chart (for the cluster's Kubernetes version) with the version's
/// values into manifests.
pub(super) async fn render(
    d: &Deployer,
    version: RenderedVersion,
    install: bool,
) -> Result<Rendered, Failure> {
    let kube_version = d.kube_version().await;
    let mut objects: Vec<Manifest> = vec![];
    let mut skipped_hooks = vec![];
    for c in version.template_charts(&d.helm, kube_version.as_deref()).await {
        let yaml = c.result.map_err(|e| match e {
            ChartError::NoRegistry => format!(
                "template {} has no Helm registry, so there is no chart to deploy",
                c.template
            ),
            ChartError::Fetch(e) => format!("template {}: chart {}: {e}", c.template, c.chart_name),
            ChartError::Template(e) => format!("template {}: {e}", c.template),
        })?;
        let release = &version.preview.templates[c.index].release_name;
        let parsed = manifests::parse(release, &yaml, install)?;
        objects.extend(parsed.objects);
        skipped_hooks.extend(parsed.skipped_hooks);
    }
    Ok(Rendered {
        version,
        objects,
        skipped_hooks,
    })
}

impl Run<'_> {
    pub async fn step(&self, message: &'static str) {
        let _ = self.d.progress(self.row, DeployState::Deploying, message).await;
    }

    /// O-Neko's labels, the version's, and the release's when given.
    pub fn labels(&self, release: Option<&str>) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            (LABEL_PROJECT.to_string(), self.p.id.to_string()),
            (LABEL_VERSION.to_string(), self.version.clone()),
        ]);
        if let Some(r) = release {
            l.insert(LABEL_RELEASE.to_string(), r.to_string());
        }
        l
    }

    /// The whole set, hooks included, checked against the project's policy before anything
    /// (not even the namespace) is applied. Custom resources of CRDs in the set are placed by
    /// their CRD.
    pub fn check_policy(&mut self, objects: &[Manifest]) -> Result<(), Failure> {
        let crd_scopes = policy::crd_scopes(objects);
        let applier = &mut self.applier;
        policy::check(&self.policy, &self.p.name, objects, |m| {
            applier
                .resolve(&m.api_version, &m.kind)
                .map(|(_, namespaced)| namespaced)
                .or_else(|e| {
                    crd_scopes
                        .get(&(policy::group_of(&m.api_version).to_owned(), m.kind.clone()))
                        .copied()
                        .ok_or(e)
                })
        })?;
        Ok(())
    }

    /// A shared namespace must exist; the version's own is created, labelled with the project's
    /// Pod Security level (which the API server enforces).
    pub async fn prepare_namespace(&self) -> Result<(), Failure> {
        let namespace = &self.namespace;
        if self.shared {
            let found = self
                .applier
                .get(&ObjectRef {
                    api_version: "v1".into(),
                    kind: "Namespace".into(),
                    namespace: None,
                    name: namespace.clone(),
                })
                .await?;
            if found.is_none() {
                return Err(format!(
                    "the shared namespace {namespace} does not exist in the cluster; an ADMIN can create it again under Namespaces"
                )
                .into());
            }
            return Ok(());
        }
        let mut ns_labels = self.labels(None);
        ns_labels.extend(policy::namespace_labels(self.policy.pod_security));
        self.applier
            .ensure_namespace(
                namespace,
                &ns_labels,
                (LABEL_VERSION, &self.version),
                self.d.config.timeout,
            )
            .await?;
        Ok(())
    }

    /// Stamps every object with the labels, and adds the registry's credentials as an image
    /// pull secret offered to every service account: only the project's own registry's, and
    /// only when an ADMIN lets it copy them. Returns that secret, and the name this registry's
    /// secret has (or had) whether it is copied now or not.
    pub async fn stamp(
        &self,
        objects: &mut Vec<Manifest>,
        pull_secret_name: &str,
    ) -> Result<(Option<Manifest>, Option<String>), Failure> {
        let pull_secret = self.pull_secret(pull_secret_name).await?;
        let registry_secret = docker_registry::Entity::find_by_id(self.p.docker_registry_id)
            .one(&self.d.db)
            .await
            .map_err(|e| format!("reading the project's Docker registry failed: {e}"))?
            .map(|r| config::pull_secret_name(&r.name));
        for m in objects.iter_mut() {
            manifests::stamp(&mut m.object, &self.labels(Some(&m.release)));
            if let Some(secret) = pull_secret.as_ref().map(|s| s.name.clone())
                && m.kind == "ServiceAccount"
            {
                manifests::add_pull_secret(&mut m.object, &secret);
            }
        }
        if let Some(s) = &pull_secret {
            objects.push(s.clone());
        }
        Ok((pull_secret, registry_secret))
    }

    /// Applies the CRDs first, for real, so the custom resources that follow can be resolved
    /// and dry-run; places the rest (sorted by kind). Returns the CRDs applied and the rest.
    pub async fn place(
        &mut self,
        objects: Vec<Manifest>,
    ) -> Result<(Vec<ObjectRef>, Vec<(ObjectRef, Manifest)>), Failure> {
        let (crds, mut objects): (Vec<Manifest>, Vec<Manifest>) = objects
            .into_iter()
            .partition(|m| m.kind == "CustomResourceDefinition" && m.hook.is_none());
        let mut applied: Vec<ObjectRef> = vec![];
        let mut served: Vec<(String, String)> = vec![];
        for mut crd in crds {
            // CRDs are shared by every version of a chart (and never deleted), so not owned.
            let r = self.applier.place(&mut crd, &self.namespace)?;
            self.applier.apply(&r, &crd.object, false).await?;
            served.extend(crd_kinds(&crd.object));
            applied.push(r);
        }
        if !served.is_empty() {
            self.applier.refresh_until(&served, self.d.config.timeout).await?;
        }
        let mut placed: Vec<(ObjectRef, Manifest)> = vec![];
        manifests::sort(&mut objects);
        for mut m in objects {
            let r = self.applier.place(&mut m, &self.namespace)?;
            placed.push((r, m));
        }
        Ok((applied, placed))
    }

    /// A server dry run of every object, after refusing to take over another version's.
    pub async fn dry_run(&self, placed: &[(ObjectRef, Manifest)]) -> Result<(), Failure> {
        for (r, m) in placed {
            // Where versions share a namespace (or the cluster, for cluster-scoped objects), an
            // object of another version is never taken over.
            if (self.shared || r.namespace.is_none()) && !is_shared_secret(m) {
                self.owned_or_free(r).await?;
            }
            // A shared namespace's pull secret of the same name but another registry's
            // credentials (two registry names that sanitise alike) is never overwritten.
            if self.shared && is_shared_secret(m) {
                self.same_registry_or_free(r).await?;
            }
            // A hook that is replaced on every run is created anew, not updated: its dry run
            // would refuse the change of an immutable Job.
            if let Some(h) = &m.hook
                && h.before_creation
                && self.applier.get(r).await?.is_some()
            {
                continue;
            }
            self.applier
                .apply_as_version(r, &m.object, true, &self.version)
                .await
                .map_err(|e| format!("the cluster refused {}: {e}", m.describe()))?;
        }
        Ok(())
    }

    /// Runs the hooks of one phase, in order.
    pub async fn hooks(
        &self,
        placed: &[(ObjectRef, Manifest)],
        phase: HookPhase,
        partial: &Partial,
        applied: usize,
    ) -> Result<(), Failure> {
        let when = match (phase, self.row.applied_at.is_none()) {
            (HookPhase::Pre, true) => "pre-install",
            (HookPhase::Pre, false) => "pre-upgrade",
            (_, true) => "post-install",
            (_, false) => "post-upgrade",
        };
        for (r, m) in placed
            .iter()
            .filter(|(_, m)| m.hook.as_ref().is_some_and(|h| h.phase == phase))
        {
            self.run_hook(r, m)
                .await
                .map_err(|e| partial.fail(format!("{when} hook {}: {e}", m.describe()), applied))?;
        }
        Ok(())
    }

    /// Applies every object but the hooks; returns the workloads' generations as applied.
    pub async fn apply(
        &self,
        placed: &[(ObjectRef, Manifest)],
        partial: &Partial,
        applied: &mut Vec<ObjectRef>,
    ) -> Result<BTreeMap<String, i64>, Failure> {
        let mut generations = BTreeMap::new();
        // Workloads an autoscaler scales change their spec by design: not a change outside.
        let autoscaled: BTreeSet<String> = placed
            .iter()
            .filter(|(_, m)| m.kind == "HorizontalPodAutoscaler")
            .filter_map(|(_, m)| {
                let t = &m.object["spec"]["scaleTargetRef"];
                Some(format!("{}/{}", t["kind"].as_str()?, t["name"].as_str()?))
            })
            .collect();
        for (r, m) in placed.iter().filter(|(_, m)| m.hook.is_none()) {
            let live = self
                .applier
                .apply_as_version(r, &m.object, false, &self.version)
                .await
                .map_err(|e| partial.fail(format!("applying failed: {e}"), applied.len()))?;
            if watched_workload(&r.api_version, &r.kind)
                && !autoscaled.contains(&r.describe())
                && let Some(g) = live.metadata.generation
            {
                generations.insert(r.describe(), g);
            }
            applied.push(r.clone());
        }
        Ok(generations)
    }

    /// Offers the pull secret to the `default` service account, and takes credentials this
    /// deploy does not copy (switched off, or the project moved to another registry) away from
    /// it. In the version's own namespace every other pull secret of O-Neko's is stale (its
    /// Secret is pruned with the inventory); in a shared one only this registry's, when it is
    /// switched off (others belong to other projects).
    pub async fn tidy_pull_secrets(
        &self,
        pull_secret: Option<&Manifest>,
        registry_secret: Option<&str>,
    ) -> Result<(), String> {
        if let Some(s) = pull_secret {
            self.applier
                .add_pull_secret(&self.namespace, "default", &s.name)
                .await?;
        }
        let current = pull_secret.map(|s| s.name.as_str());
        let stale = |name: &str| {
            Some(name) != current
                && if self.shared {
                    current.is_none() && Some(name) == registry_secret
                } else {
                    name.starts_with(PULL_SECRET_PREFIX)
                }
        };
        self.applier
            .remove_pull_secrets(&self.namespace, "default", stale)
            .await?;
        if self.shared
            && current.is_none()
            && let Some(name) = registry_secret
        {
            self.remove_shared_pull_secret(name).await?;
        }
        Ok(())
    }

    /// Deletes what the previous deploy applied and this one no longer renders. CRDs stay
    /// (deleting one deletes every resource of its kind, as Helm knows); others go only while
    /// they are still this version's.
    pub async fn prune(&self, old: &[ObjectRef], new: &[ObjectRef]) -> Result<usize, String> {
        let keep: BTreeSet<&ObjectRef> = new.iter().collect();
        let mut pruned = 0;
        for r in old.iter().filter(|r| !keep.contains(r)) {
            if r.kind == "CustomResourceDefinition" {
                continue;
            }
            if self
                .applier
                .delete_if_labelled(r, LABEL_VERSION, &self.version)
                .await
                .map_err(|e| format!("pruning failed: {e}"))?
            {
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}
