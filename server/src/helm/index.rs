//! Chart repository indexes (`index.yaml`, as `helm repo index` writes it) and chart version
//! ordering, shared by HTTP repositories, GCS buckets and OCI registries.

use app::model::{Chart, ChartVersion};
use serde::Deserialize;
use std::{cmp::Ordering, collections::BTreeMap};

/// Largest index accepted (big public repositories have indexes of a few tens of MB).
pub const MAX_INDEX: usize = 64 << 20;

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

/// One chart version in an index.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Entry {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
    /// sha256 of the chart archive, hex.
    pub digest: String,
    pub urls: Vec<String>,
}

/// A parsed index: chart name → versions, newest first.
#[derive(Clone, Debug, Default)]
pub struct ChartIndex {
    pub charts: BTreeMap<String, Vec<Entry>>,
}

impl ChartIndex {
    /// Parses `index.yaml`; the error says what is wrong in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_INDEX {
            return Err(format!("the index is larger than {} MiB", MAX_INDEX >> 20));
        }
        let index: Index =
            serde_norway::from_str(text).map_err(|e| format!("the index is not a chart index: {e}"))?;
        let charts = index
            .entries
            .into_iter()
            .map(|(name, mut versions)| {
                for v in &mut versions {
                    if v.name.is_empty() {
                        v.name.clone_from(&name);
                    }
                }
                versions.sort_by(|a, b| newest_first(&a.version, &b.version));
                (name, versions)
            })
            .collect();
        Ok(ChartIndex { charts })
    }

    /// The entry for `chart` at `version`, or its newest release when `version` is empty.
    pub fn find(&self, chart: &str, version: &str) -> Option<&Entry> {
        let versions = self.charts.get(chart)?;
        if version.is_empty() {
            latest(versions.iter().map(|e| e.version.as_str()))
                .and_then(|v| versions.iter().find(|e| e.version == v))
        } else {
            versions.iter().find(|e| e.version == version)
        }
    }

    /// The listing the chart picker shows.
    pub fn to_charts(&self) -> Vec<Chart> {
        self.charts
            .iter()
            .map(|(name, versions)| Chart {
                name: name.clone(),
                versions: versions
                    .iter()
                    .map(|e| ChartVersion {
                        version: e.version.clone(),
                        app_version: e.app_version.clone(),
                        description: e.description.clone(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Orders chart versions newest first: SemVer precedence where both parse, then text.
pub fn newest_first(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| semver::Version::parse(s.trim_start_matches('v')).ok();
    match (parse(a), parse(b)) {
        // SemVer ignores build metadata for precedence; break the tie on it for a stable order.
        (Some(x), Some(y)) => y.cmp_precedence(&x).then_with(|| b.cmp(a)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.cmp(a),
    }
}

/// What "latest" means, as helm decides it: the highest stable SemVer release; pre-releases only
/// when there is nothing else.
pub fn latest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut all: Vec<&str> = versions.collect();
    all.sort_by(|a, b| newest_first(a, b));
    let stable = all
        .iter()
        .copied()
        .find(|v| semver::Version::parse(v.trim_start_matches('v')).is_ok_and(|s| s.pre.is_empty()));
    stable.or_else(|| all.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  demo:
  - apiVersion: v2
    appVersion: 1.16.0
    description: A demo
    digest: aaaa
    name: demo
    urls: [demo-1.2.3+build.5.tgz]
    version: 1.2.3+build.5
  - appVersion: "2.0"
    description: The next one
    digest: bbbb
    name: demo
    urls: [https://charts.example/demo-2.0.0-rc.1.tgz]
    version: 2.0.0-rc.1
  - name: demo
    version: 1.10.0
    digest: cccc
    urls: [demo-1.10.0.tgz]
  other:
  - name: other
    version: 0.1.0
generated: "2026-11-28T00:00:00Z"
"#;

    #[test]
    fn parses_and_orders_versions() {
        let index = ChartIndex::parse(INDEX).unwrap();
        let demo: Vec<&str> = index.charts["demo"].iter().map(|e| e.version.as_str()).collect();
        assert_eq!(demo, ["2.0.0-rc.1", "1.10.0", "1.2.3+build.5"]);
        let charts = index.to_charts();
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].versions[2].app_version, "1.16.0");
        assert_eq!(charts[0].versions[2].description, "A demo");
    }

    #[test]
    fn latest_skips_prereleases_and_exact_versions_keep_build_metadata() {
        let index = ChartIndex::parse(INDEX).unwrap();
        assert_eq!(index.find("demo", "").unwrap().version, "1.10.0");
        assert_eq!(index.find("demo", "1.2.3+build.5").unwrap().digest, "aaaa");
        assert!(index.find("demo", "9.9.9").is_none());
        assert!(index.find("nope", "").is_none());
        assert_eq!(
            latest(["1.0.0-alpha", "0.9.0-beta"].into_iter()),
            Some("1.0.0-alpha")
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = ChartIndex::parse("entries: [1, 2").unwrap_err();
        assert!(err.starts_with("the index is not a chart index"), "{err}");
    }
}
