//! Objects a deploy touches that are not simply applied: hooks (run and waited for), objects that
//! may already belong to someone else, and the kinds a CustomResourceDefinition adds.

use super::*;

impl Run<'_> {
    /// A hook: the old one deleted first (by its policy), applied, waited for, deleted after.
    pub async fn run_hook(&self, r: &ObjectRef, m: &Manifest) -> Result<(), String> {
        let hook = m.hook.as_ref().expect("only hooks are run as hooks");
        if hook.before_creation {
            self.applier.delete(r).await?;
            self.applier.wait_gone(r, self.d.config.timeout).await?;
        }
        self.applier.apply(r, &m.object, false).await?;
        match self.applier.wait_hook(r, self.d.config.timeout).await {
            Ok(()) => {
                if hook.delete_on_success {
                    self.applier.delete(r).await?;
                }
                Ok(())
            }
            Err(e) => {
                if hook.delete_on_failure {
                    let _ = self.applier.delete(r).await;
                }
                Err(e)
            }
        }
    }

    /// Refuses an object that exists and belongs to another version (or to no version of O-Neko's).
    pub async fn owned_or_free(&self, r: &ObjectRef) -> Result<(), String> {
        let version = self.version.as_str();
        match self.applier.label_of(r, LABEL_VERSION).await? {
            None => Ok(()),
            Some(Some(v)) if v == version => Ok(()),
            Some(Some(v)) => Err(format!(
                "{} already exists and belongs to another deployment (version {v}); O-Neko does not take it over",
                r.describe()
            )),
            Some(None) => Err(format!(
                "{} already exists and was not deployed by O-Neko; O-Neko does not take it over",
                r.describe()
            )),
        }
    }
}

/// The `(apiVersion, kind)` pairs a CustomResourceDefinition serves.
pub(super) fn crd_kinds(crd: &serde_json::Value) -> Vec<(String, String)> {
    let group = crd
        .pointer("/spec/group")
        .and_then(|g| g.as_str())
        .unwrap_or_default();
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    crd.pointer("/spec/versions")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(|s| s.as_bool()).unwrap_or(true))
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()))
        .map(|name| (format!("{group}/{name}"), kind.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::crd_kinds;
    use serde_json::json;

    #[test]
    fn a_crd_adds_the_kinds_of_its_served_versions() {
        let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [
            {"name": "v1", "served": true}, {"name": "v1beta1", "served": false}, {"name": "v2"}]}});
        assert_eq!(
            crd_kinds(&crd),
            [
                ("example.com/v1".to_string(), "Widget".to_string()),
                ("example.com/v2".to_string(), "Widget".to_string())
            ]
        );
        assert!(crd_kinds(&json!({})).is_empty());
    }
}
