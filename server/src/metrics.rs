//! `/metrics` in the Prometheus text format: tag polls, deploys and stops (counts, durations,
//! failures), deployments by state, scheduler leadership, HTTP request durations and
//! server-function errors by kind. A small registry of our own (counters and histograms behind
//! one lock), written to by the poller, the deployer and the HTTP middleware.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{LazyLock, Mutex},
    time::Duration,
};

/// Histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Label sets: `(name, value)` pairs in order.
type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Families {
    counters: BTreeMap<&'static str, BTreeMap<Labels, u64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

/// The process's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Families>,
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "oneko_polls_total",
        "counter",
        "Tag polls by registry and outcome (ok, failed).",
    ),
    (
        "oneko_poll_duration_seconds",
        "histogram",
        "Time one tag poll of a project took, by registry.",
    ),
    (
        "oneko_deployments_operations_total",
        "counter",
        "Deploys and stops carried out, by operation and outcome (ok, failed).",
    ),
    (
        "oneko_deployment_failures_total",
        "counter",
        "Failed deploys and stops, by operation and kind (values, chart, policy, refused, hook, cluster, …).",
    ),
    (
        "oneko_deployment_operation_duration_seconds",
        "histogram",
        "Time a deploy or stop took, by operation.",
    ),
    (
        "oneko_http_request_duration_seconds",
        "histogram",
        "HTTP requests by method, route and status class.",
    ),
    (
        "oneko_server_function_errors_total",
        "counter",
        "Server-function errors by kind (forbidden, invalid, conflict, …).",
    ),
    (
        "oneko_rest_errors_total",
        "counter",
        "REST API (/api/v1) errors by kind (unauthenticated, forbidden, invalid, …).",
    ),
    (
        "oneko_sign_ins_total",
        "counter",
        "Single sign-ons by outcome (ok, or why not: state, expired, refused, token, account, provider).",
    ),
    (
        "oneko_internal_errors_total",
        "counter",
        "Failures of the server's dependencies reaching a user, by source (database, cluster, encoding, task, other).",
    ),
    ("oneko_deployments", "gauge", "Versions by deployment state."),
    (
        "oneko_scheduler_leader",
        "gauge",
        "1 while this replica runs the scheduler.",
    ),
];

/// The `method` label: one of the standard methods, else `OTHER`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("OTHER", |(_, label)| label)
}

/// The `route` label: the route axum matched (a pattern, never raw ids), or a registered
/// server function's path, else `other`.
pub fn route_label(matched: Option<&str>, path: &str) -> String {
    static SERVER_FNS: LazyLock<std::collections::HashSet<&'static str>> =
        LazyLock::new(|| server_fn::axum::server_fn_paths().map(|(p, _)| p).collect());
    match matched {
        Some(pattern) => pattern.to_owned(),
        None if SERVER_FNS.contains(path) => path.to_owned(),
        None => "other".into(),
    }
}

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    static M: LazyLock<Metrics> = LazyLock::new(Metrics::default);
    &M
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(l: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, l: Labels) {
        let mut f = self.inner.lock().unwrap();
        *f.counters.entry(name).or_default().entry(l).or_default() += 1;
    }

    /// Records a duration.
    pub fn observe(&self, name: &'static str, l: Labels, d: Duration) {
        let mut f = self.inner.lock().unwrap();
        f.histograms
            .entry(name)
            .or_default()
            .entry(l)
            .or_default()
            .observe(d.as_secs_f64());
    }

    /// A tag poll of a project in `registry`.
    pub fn poll(&self, registry: &str, ok: bool, d: Duration) {
        let outcome = if ok { "ok" } else { "failed" };
        self.inc(
            "oneko_polls_total",
            vec![("registry", registry.into()), ("outcome", outcome.into())],
        );
        self.observe(
            "oneko_poll_duration_seconds",
            vec![("registry", registry.into())],
            d,
        );
    }

    /// A deploy or stop carried out; `failed`: the kind of failure, if it failed.
    pub fn operation(&self, operation: &'static str, failed: Option<&'static str>, d: Duration) {
        let outcome = if failed.is_some() { "failed" } else { "ok" };
        if let Some(kind) = failed {
            self.inc(
                "oneko_deployment_failures_total",
                vec![("operation", operation.into()), ("kind", kind.into())],
            );
        }
        self.inc(
            "oneko_deployments_operations_total",
            vec![("operation", operation.into()), ("outcome", outcome.into())],
        );
        self.observe(
            "oneko_deployment_operation_duration_seconds",
            vec![("operation", operation.into())],
            d,
        );
    }

    /// Renders everything, with `gauges` (name → label sets and values) read at scrape time.
    pub fn render(&self, gauges: &[(&'static str, Vec<(Labels, f64)>)]) -> String {
        let f = self.inner.lock().unwrap();
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if let Some(series) = f.counters.get(name) {
                for (l, v) in series {
                    let _ = writeln!(out, "{name}{} {v}", labels(l, None));
                }
            }
            if let Some(series) = f.histograms.get(name) {
                for (l, h) in series {
                    for (i, b) in BUCKETS.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            labels(l, Some(("le", b.to_string()))),
                            h.counts[i]
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        labels(l, Some(("le", "+Inf".into()))),
                        h.count
                    );
                    let _ = writeln!(out, "{name}_sum{} {}", labels(l, None), h.sum);
                    let _ = writeln!(out, "{name}_count{} {}", labels(l, None), h.count);
                }
            }
            for (gname, series) in gauges {
                if gname == name {
                    for (l, v) in series {
                        let _ = writeln!(out, "{name}{} {v}", labels(l, None));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_prometheus_text_format() {
        let m = Metrics::default();
        m.poll("hub \"eu\"", true, Duration::from_millis(20));
        m.poll("hub \"eu\"", false, Duration::from_secs(2));
        m.operation("deploy", None, Duration::from_millis(300));
        m.operation("deploy", Some("hook"), Duration::from_secs(3));
        let text = m.render(&[("oneko_scheduler_leader", vec![(vec![], 1.0)])]);
        assert!(text.contains("# TYPE oneko_polls_total counter"), "{text}");
        assert!(
            text.contains("oneko_deployments_operations_total{operation=\"deploy\",outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oneko_deployment_failures_total{operation=\"deploy\",kind=\"hook\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oneko_polls_total{registry=\"hub \\\"eu\\\"\",outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oneko_poll_duration_seconds_bucket{registry=\"hub \\\"eu\\\"\",le=\"0.025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oneko_poll_duration_seconds_bucket{registry=\"hub \\\"eu\\\"\",le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("oneko_poll_duration_seconds_count{registry=\"hub \\\"eu\\\"\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("oneko_deployments_operations_total{operation=\"deploy\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("oneko_scheduler_leader 1"), "{text}");
    }

    #[test]
    fn labels_take_only_known_values() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(
            route_label(Some("/projects/{id}"), "/projects/42"),
            "/projects/{id}"
        );
        assert_eq!(route_label(None, "/api/no_such_function_3f9a"), "other");
        assert_eq!(route_label(None, "/favicon-9c2e.ico"), "other");
    }
}
