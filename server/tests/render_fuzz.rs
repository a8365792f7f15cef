//! Fuzzing the renderer (issue 16): random templates from a grammar of MiniJinja fragments —
//! filters with huge arguments, loops, sets, operators, literals, constructs O-Neko refuses —
//! with random variable values (huge numbers, long strings). Every render must end without a
//! panic, as output or as an error with a message, quickly, and within a memory bound.
//!
//! Memory is measured from outside the allocator: a counting `#[global_allocator]` needs
//! `unsafe impl GlobalAlloc`, which the workspace forbids. Instead this binary (its own
//! process, one test, one thread) reads the peak resident set (`VmHWM` in /proc/self/status)
//! and checks it never rises more than [`MAX_GROWTH`] above what the process used before the
//! first render. Every byte a render keeps alive is resident while it lives, so this bounds
//! each render's live memory; a render that tried to build gigabytes would fail the bound or
//! be killed, not pass. Resetting the peak before each case (`/proc/self/clear_refs`) names the
//! case that grew.

use proptest::{prelude::*, test_runner::TestCaseError};
use server::render::{self, Builtins, RenderRequest, Template, Variable};
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// Most the peak resident set may grow above the baseline during any render.
const MAX_GROWTH: u64 = 64 << 20;
/// Longest one render may take (debug build, fuel-bounded).
const MAX_TIME: Duration = Duration::from_secs(20);

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Variables the random statements use.
const PRELUDE: &str =
    "{% set v0 = 'ab' %}{% set v1 = [1, 'two'] %}{% set v2 = {'a': 1} %}{% set v3 = 7 %}{% set x = 'x' %}";

/// `VmRSS` and `VmHWM` in bytes.
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sets the peak back to the current resident set (Linux ≥ 4.0); false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn request(template: &str, version_value: &str) -> RenderRequest {
    RenderRequest {
        builtins: Builtins {
            project_name: "Shop".into(),
            project_id: "p-1".into(),
            version_name: "feature/Login-2.0".into(),
            version_id: "v-42".into(),
            image_repository: "registry.example:5000/team/shop".into(),
            image_digest: Some("sha256:abc".into()),
            namespace: "on-shop-featurelogin20".into(),
            pull_secret: "o-neko-pull-hub".into(),
        },
        url_templates: vec!["shop-{{ SAFE_VERSION_NAME }}.example.com".into()],
        variables: vec![Variable {
            name: "BACKEND".into(),
            default_value: "https://test.example".into(),
        }],
        version_values: BTreeMap::from([("VALUE".into(), version_value.into())]),
        templates: vec![Template {
            name: "t".into(),
            release_name: "rel-t".into(),
            content: template.into(),
        }],
    }
}

fn big_number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..20i64).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        2 => prop::sample::select(vec![
            "0", "1", "2", "3", "7", "100", "10000", "100000", "1000000", "100000000", "1000000000000",
            "9223372036854775807", "-1", "-100000", "(10 ** 9)", "(10 ** 18)", "(2 ** 62)", "1.5e300", "0.5",
        ])
        .prop_map(str::to_owned),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        big_number(),
        "[a-z ]{0,6}".prop_map(|s| format!("'{s}'")),
        big_number().prop_map(|n| format!("('x' * {n})")),
        big_number().prop_map(|n| format!("range({n})")),
        big_number().prop_map(|n| format!("([1, 'a'] * {n})")),
        prop::sample::select(vec![
            "VERSION_NAME",
            "BACKEND",
            "VALUE",
            "URLS",
            "IMAGE",
            "none",
            "true",
            "x",
            "v0",
            "v1",
            "v2",
            "v3",
            "[]",
            "{}",
            "{'a': [1, 2], 'b': 'c'}",
            "(1, 'two')",
            "dict(a=1)",
            "fn",
            "range",
        ])
        .prop_map(str::to_owned),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let op = prop::sample::select(vec![
            "~", "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "and", "or", "in", "not in",
        ]);
        let filter = prop::sample::select(vec![
            "indent",
            "replace",
            "join",
            "format",
            "batch",
            "slice",
            "split",
            "lines",
            "pprint",
            "upper",
            "lower",
            "title",
            "capitalize",
            "trim",
            "string",
            "list",
            "sort",
            "unique",
            "reverse",
            "first",
            "last",
            "length",
            "sum",
            "min",
            "max",
            "items",
            "dictsort",
            "groupby",
            "map",
            "select",
            "reject",
            "selectattr",
            "chain",
            "zip",
            "default",
            "int",
            "float",
            "abs",
            "round",
            "escape",
            "safe",
            "bool",
            "attr",
            "count",
            "center",
            "wordwrap",
            "tojson",
            "urlencode",
            "truncate",
        ]);
        let method = prop::sample::select(vec![
            "lowerCase",
            "upperCase",
            "trim",
            "truncate",
            "replace",
            "removeStart",
            "removeEnd",
            "suffixWithMaxLength",
            "exec",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (inner.clone(), filter.clone()).prop_map(|(a, f)| format!("({a})|{f}")),
            (inner.clone(), filter, prop::collection::vec(inner.clone(), 1..3))
                .prop_map(|(a, f, args)| format!("({a})|{f}({})", args.join(", "))),
            (inner.clone(), big_number()).prop_map(|(a, n)| format!("({a})|indent(width={n}, first=true)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})|replace('', {b})")),
            (inner.clone(), big_number()).prop_map(|(a, n)| format!("'%{n}s'|format({a})")),
            (method, prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(m, args)| format!("fn.{m}({})", args.join(", "))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(a, b, c)| format!("({a})[{b}:{c}:-1]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}, {a}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{a}: {b}, 'k': {a}}}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("(({a}) if ({b}) else ({c}))")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner.clone().prop_map(|a| format!("(not ({a}))")),
            inner.clone().prop_map(|a| format!("({a}) is string")),
            (inner.clone(), inner.clone(), inner).prop_map(|(a, b, c)| format!("range({a}, {b}, {c})")),
        ]
    })
}

fn statements() -> impl Strategy<Value = String> {
    let simple = prop_oneof![
        4 => expression().prop_map(|e| format!("k: {{{{ {e} }}}}\n")),
        4 => (0..4usize, expression()).prop_map(|(i, e)| format!("{{% set v{i} = {e} %}}")),
        2 => (0..4usize).prop_map(|i| format!("{{% set v{i} = v{i} ~ v{i} %}}")),
        2 => (0..4usize).prop_map(|i| format!("{{% set v{i} = v{i} + v{i} %}}")),
        1 => "[a-z: \n]{0,12}",
        1 => prop::sample::select(vec![
            "{% set ns = namespace(a='x') %}{% set ns.a = ns.a ~ ns.a %}",
            "{% macro m(s) %}{{ m(s ~ s) }}{% endmacro %}{{ m('x') }}",
            "{% set c %}{{ 'x' * 1000 }}{% endset %}",
            "{% filter upper %}x{% endfilter %}",
            "{% for i in [[1]] recursive %}{{ loop(i) }}{% endfor %}",
            "{% include 'x' %}",
            "{{ debug() }}",
            "{{ loop.cycle() }}",
            "{{ ''[::-1] }}{{ 'abc'[0:5:-1] }}",
            "{% for i in range(3) %}{{ loop.cycle() }}{% endfor %}",
            "{{ x",
            "{% if %}",
            "{{ 'unclosed }}",
        ])
        .prop_map(str::to_owned),
    ];
    simple.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            (expression(), prop::collection::vec(inner.clone(), 1..4))
                .prop_map(|(e, body)| format!("{{% for x in ({e}) %}}{}{{% endfor %}}", body.concat())),
            (expression(), inner.clone(), inner.clone())
                .prop_map(|(e, a, b)| format!("{{% if ({e}) %}}{a}{{% else %}}{b}{{% endif %}}")),
            prop::collection::vec(inner, 1..4).prop_map(|v| v.concat()),
        ]
    })
}

/// Templates built to grow: doubling through every operator, huge arguments, loops that keep
/// making large values. Each must be refused (or stay small).
fn hostile() -> impl Strategy<Value = String> {
    let doubling = prop::sample::select(vec![
        "a ~ a",
        "a + a",
        "a * 2",
        "[a, a]",
        "(a, a)",
        "{'k': a, 'j': a}",
        "a|list + a|list",
    ]);
    prop_oneof![
        (1..60usize, doubling, "[a-z]{1,4}").prop_map(|(n, op, s)| {
            format!(
                "{{% set a = '{s}' %}}{}a: {{{{ a|length }}}}\n",
                format!("{{% set a = {op} %}}").repeat(n)
            )
        }),
        (
            big_number(),
            prop::sample::select(vec![
                "{{ 'x'|indent(N) }}",
                "{{ 'a\nb'|indent(width=N, first=true, blank=true) }}",
                "{{ 'x' * N }}",
                "{{ ([1, 2] * N)|length }}",
                "{{ range(N)|list|length }}",
                "{{ ('ab' * 1000)|replace('a', 'x' * N) }}",
                "{{ range(10)|batch(N)|list|length }}",
                "{{ range(10)|slice(N)|list|length }}",
                "{{ '%Ns'|format('x') }}",
                "{{ '%.Nf'|format(1.5) }}",
                "{{ fn.replace('x' * 1000, 'x', 'y' * N) }}",
                "{{ (['x' * 1000] * 100)|join('y' * N) }}",
                "{{ fn.suffixWithMaxLength('x', 'y', N) }}",
                "{{ fn.truncate('x' * 1000, N) }}",
                "{{ ('x ' * N)|split|length }}",
            ])
        )
            .prop_map(|(n, t)| format!("k: {}\n", t.replace('N', &n))),
        (
            1..500usize,
            1..100_000usize,
            prop::sample::select(vec!["upper", "list", "reverse", "string", "pprint"])
        )
            .prop_map(|(times, size, f)| {
                format!(
                    "{{% for i in range({times}) %}}{{% set t = ('x' * {size})|{f} %}}{{% endfor %}}a: 1\n"
                )
            }),
        (1..2000usize, 1..2000usize).prop_map(|(times, items)| {
            format!(
                "{{% for i in range({times}) %}}{{% set t = range({items})|list + [i] %}}{{% endfor %}}a: 1\n"
            )
        }),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,8}",
        big_number(),
        (1..4096usize).prop_map(|n| "y".repeat(n)),
    ]
}

#[test]
fn random_templates_render_or_fail_cleanly_within_bounds() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        eprintln!("panic: {info}");
    }));
    // Warm up lazily built state (filters, statics) so it is not counted as growth.
    let _ = render::render(&request("a: {{ [1]|join ~ range(2)|list|string }}\n", "1"));
    let can_reset = reset_peak();
    let (baseline, _) = resident();
    let started = Instant::now();
    let rendered = std::cell::Cell::new(0usize);
    let refused = std::cell::Cell::new(0usize);
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        // A failure is reported with what shrinking reached in a minute, not killed by the
        // test runner's timeout while it shrinks.
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let templates = prop_oneof![3 => statements(), 1 => hostile()];
    let outcome = runner.run(&(templates, value()), |(template, version_value)| {
        let short: String = template.chars().take(300).collect();
        if can_reset {
            reset_peak();
        }
        let (before, _) = resident();
        let panics = PANICS.load(Ordering::SeqCst);
        let t0 = Instant::now();
        let template = format!("{PRELUDE}{template}");
        let result = render::render(&request(&template, &version_value));
        let took = t0.elapsed();
        let (_, peak) = resident();
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), panics, "panicked: {}", short);
        prop_assert!(took < MAX_TIME, "took {took:?}: {short}");
        prop_assert!(
            peak.saturating_sub(baseline) < MAX_GROWTH,
            "peak resident set {} MiB above the baseline (this render: {} MiB): {short}",
            peak.saturating_sub(baseline) >> 20,
            peak.saturating_sub(before) >> 20,
        );
        match result {
            Ok(r) => {
                rendered.set(rendered.get() + 1);
                for t in &r.templates {
                    prop_assert!(t.values.len() <= render::MAX_OUTPUT_BYTES);
                }
            }
            Err(e) => {
                refused.set(refused.get() + 1);
                let message = e.to_string();
                if message.trim().is_empty() {
                    return Err(TestCaseError::fail(format!(
                        "an error without a message: {e:?}: {short}"
                    )));
                }
            }
        }
        Ok(())
    });
    eprintln!(
        "{} rendered, {} refused in {:?}; peak {} MiB above the baseline",
        rendered.get(),
        refused.get(),
        started.elapsed(),
        resident().1.saturating_sub(baseline) >> 20
    );
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
