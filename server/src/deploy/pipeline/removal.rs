//! Taking a deployment out of the cluster, on stop and before a move to another namespace.

use super::*;

/// Takes a deployment out of the cluster: its own namespace (one labelled as this version's), or
/// in a shared namespace exactly the objects labelled as its own; cluster-scoped objects it
/// applied go too while they carry its label (CRDs stay, as with Helm).
pub(super) async fn remove(
    timeout: std::time::Duration,
    applier: &Applier,
    row: &deployment::Model,
    inventory: &[ObjectRef],
) -> Result<(), String> {
    let version = row.version_id.to_string();
    let ns_ref = |name: &str| ObjectRef {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: name.to_owned(),
    };
    let mut gone: Vec<ObjectRef> = vec![];
    for r in inventory
        .iter()
        .filter(|r| r.namespace.is_none() && r.kind != "CustomResourceDefinition")
    {
        if applier.delete_if_labelled(r, LABEL_VERSION, &version).await? {
            gone.push(r.clone());
        }
    }
    // Every namespace the deployment used (after a move that failed, the inventory names both).
    let mut namespaces: BTreeSet<String> = inventory.iter().filter_map(|r| r.namespace.clone()).collect();
    namespaces.insert(row.namespace.clone());
    for ns in namespaces {
        let own = !row.shared || ns != row.namespace;
        if own {
            match applier.label_of(&ns_ref(&ns), LABEL_VERSION).await? {
                None => continue,
                Some(Some(v)) if v == version => {
                    applier.delete_namespace(&ns, timeout).await?;
                    continue;
                }
                // Not the version's namespace: only its objects there.
                Some(_) => {}
            }
        } else if applier.get(&ns_ref(&ns)).await?.is_none() {
            continue;
        }
        let mut refs: BTreeSet<ObjectRef> = inventory
            .iter()
            .filter(|r| r.namespace.as_deref() == Some(ns.as_str()))
            .cloned()
            .collect();
        refs.extend(
            applier
                .labelled(&ns, &format!("{LABEL_VERSION}={version}"))
                .await?,
        );
        for r in &refs {
            if applier.delete_if_labelled(r, LABEL_VERSION, &version).await? {
                gone.push(r.clone());
            }
        }
    }
    for r in &gone {
        applier.wait_gone(r, timeout).await?;
    }
    Ok(())
}
