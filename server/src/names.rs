//! The names O-Neko writes into the cluster and finds its objects by, in one place: a label or
//! prefix changed here changes everywhere it is written and read.

/// The field manager of everything O-Neko applies (server-side apply).
pub const FIELD_MANAGER: &str = "o-neko";
/// On everything O-Neko creates; it only deletes what carries it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "o-neko");
/// On everything O-Neko applies: the project's id.
pub const LABEL_PROJECT: &str = "o-neko.io/project";
/// On everything O-Neko applies and on pod templates: the version's id.
pub const LABEL_VERSION: &str = "o-neko.io/version";
/// On everything O-Neko applies: the Helm release name.
pub const LABEL_RELEASE: &str = "o-neko.io/release";
/// On namespaces an ADMIN defined (as opposed to the per-version ones).
pub const LABEL_DEFINED: &str = "o-neko.io/defined";
/// On an image pull secret: the id of the Docker registry whose credentials it holds.
pub const LABEL_REGISTRY: &str = "o-neko.io/docker-registry";
/// How the names of the namespaces O-Neko creates begin.
pub const NAMESPACE_PREFIX: &str = "on-";
/// How the names of O-Neko's image pull secrets begin.
pub const PULL_SECRET_PREFIX: &str = "o-neko-pull";
