//! Demo mode: a sample chart (also used by the tests) and, with `--demo-registry`, a sample
//! project seeded on first start, whose images and chart are pushed to a loopback registry, so
//! that a new user can deploy something into the simulated cluster within a minute.

use std::path::Path;

/// The sample chart `o-neko-demo`, file by file.
pub const CHART: &[(&str, &str)] = &[
    ("Chart.yaml", include_str!("chart/Chart.yaml")),
    ("values.yaml", include_str!("chart/values.yaml")),
    (
        "templates/serviceaccount.yaml",
        include_str!("chart/templates/serviceaccount.yaml"),
    ),
    (
        "templates/configmap.yaml",
        include_str!("chart/templates/configmap.yaml"),
    ),
    (
        "templates/extra-configmap.yaml",
        include_str!("chart/templates/extra-configmap.yaml"),
    ),
    (
        "templates/deployment.yaml",
        include_str!("chart/templates/deployment.yaml"),
    ),
    (
        "templates/service.yaml",
        include_str!("chart/templates/service.yaml"),
    ),
    (
        "templates/ingress.yaml",
        include_str!("chart/templates/ingress.yaml"),
    ),
    (
        "templates/migration-job.yaml",
        include_str!("chart/templates/migration-job.yaml"),
    ),
    (
        "templates/notify.yaml",
        include_str!("chart/templates/notify.yaml"),
    ),
    (
        "templates/tests/test-connection.yaml",
        include_str!("chart/templates/tests/test-connection.yaml"),
    ),
];

/// Writes the sample chart into `dir` (which becomes the chart's directory).
pub fn write_chart(dir: &Path) -> std::io::Result<()> {
    for (name, content) in CHART {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}
