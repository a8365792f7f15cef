use super::*;
use proptest::prelude::*;

fn request(templates: &[(&str, &str)]) -> RenderRequest {
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
        variables: vec![
            Variable {
                name: "BACKEND".into(),
                default_value: "https://test.example".into(),
            },
            Variable {
                name: "REPLICAS".into(),
                default_value: "1".into(),
            },
        ],
        version_values: BTreeMap::from([("REPLICAS".into(), "3".into())]),
        templates: templates
            .iter()
            .map(|(n, c)| Template {
                name: (*n).into(),
                release_name: format!("rel-{n}"),
                content: (*c).into(),
            })
            .collect(),
    }
}

#[test]
fn golden_values() {
    let req = request(&[(
        "web",
        "image:\n  repository: {{ IMAGE_REPOSITORY }}\n  tag: \"{{ VERSION_NAME }}\"\n  pullPolicy: Always\n\
         replicas: {{ REPLICAS }}\nbackend: {{ BACKEND }}\ningress:\n  host: {{ URLS[0] }}\n\
         name: {{ fn.suffixWithMaxLength(fn.lowerCase(PROJECT_NAME), \"-\" ~ SAFE_VERSION_NAME, 12) }}\n\
         release: {{ RELEASE_NAME }}\nns: {{ NAMESPACE }}\nref: {{ IMAGE }}\nids: {{ ONEKO_PROJECT }}/{{ ONEKO_VERSION }}\n",
    )]);
    let out = render(&req).unwrap();
    assert_eq!(
        out.templates[0].values,
        "image:\n  repository: registry.example:5000/team/shop\n  tag: \"feature/Login-2.0\"\n  pullPolicy: Always\n\
         replicas: 3\nbackend: https://test.example\ningress:\n  host: shop-featurelogin20.example.com\n\
         name: -featurelogi\n\
         release: rel-web\nns: on-shop-featurelogin20\nref: registry.example:5000/team/shop:feature/Login-2.0@sha256:abc\n\
         ids: p-1/v-42\n"
    );
    assert_eq!(out.urls, ["shop-featurelogin20.example.com"]);
    assert_eq!(out.variables["SAFE_VERSION_NAME"], "featurelogin20");
    assert!(out.hash.starts_with("sha256:"));
}

#[test]
fn original_helpers_work() {
    let req = request(&[(
        "t",
        "a: {{ fn.upperCase(\"x\") }}\nb: {{ fn.trim(\"  y \") }}\nc: {{ fn.truncate(\"abcdef\", 3) }}\n\
         d: {{ fn.replace(\"a.b.c\", \".\", \"-\") }}\ne: {{ fn.replace(\"a.b.c\", \".\", \"-\", 1) }}\n\
         f: {{ fn.removeStart(\"on-x\", \"on-\") }}\ng: {{ fn.removeEnd(\"x.svc\", \".svc\") }}\n",
    )]);
    let out = render(&req).unwrap();
    assert_eq!(
        out.templates[0].values,
        "a: X\nb: y\nc: abc\nd: a-b-c\ne: a-b.c\nf: x\ng: x\n"
    );
}

#[test]
fn undefined_variable_is_named_with_template_and_line() {
    let req = request(&[
        ("ok", "a: 1\n"),
        ("web", "a: 1\nb: {{ BACKEND }}\nc: {{ MISSING_THING }}\n"),
    ]);
    let err = render(&req).unwrap_err();
    assert_eq!(
        err,
        RenderError::Undefined {
            template: "web".into(),
            variables: vec!["MISSING_THING".into()],
            line: Some(3)
        }
    );
    assert_eq!(
        err.to_string(),
        "template 'web', line 3: undefined variable MISSING_THING"
    );
}

#[test]
fn url_templates_see_only_builtins() {
    let mut req = request(&[("t", "a: 1\n")]);
    req.url_templates = vec!["{{ BACKEND }}.example".into()];
    match render(&req).unwrap_err() {
        RenderError::Undefined {
            template, variables, ..
        } => {
            assert_eq!(template, "URL template 1");
            assert_eq!(variables, ["BACKEND"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_errors_and_sandbox() {
    let err = render(&request(&[("t", "a: {{ unclosed\n")])).unwrap_err();
    assert!(
        matches!(err, RenderError::Template { ref template, line: Some(1), .. } if template == "t"),
        "{err:?}"
    );
    // No loader: include/import cannot reach files.
    let err = render(&request(&[("t", "{% include '/etc/passwd' %}")])).unwrap_err();
    assert!(matches!(err, RenderError::Template { .. }), "{err:?}");
    // Unknown helper: a clear message listing the real ones.
    let err = render(&request(&[("t", "a: {{ fn.exec('ls') }}")])).unwrap_err();
    assert!(err.to_string().contains("fn.exec does not exist"), "{err}");
    // Runaway loops run out of fuel instead of hanging.
    let err = render(&request(&[(
        "t",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )]))
    .unwrap_err();
    assert!(matches!(err, RenderError::Template { .. }), "{err:?}");
}

#[test]
fn bad_yaml_is_refused_with_line_and_column() {
    let err = render(&request(&[("t", "a: 1\nb: [unclosed\nc: 2\n")])).unwrap_err();
    match err {
        RenderError::Yaml {
            template,
            line,
            column,
            ..
        } => {
            assert_eq!(template, "t");
            assert!(line >= 2 && column > 0, "line {line} column {column}");
        }
        other => panic!("{other:?}"),
    }
    let err = render(&request(&[("t", "- a\n- b\n")])).unwrap_err();
    assert!(err.to_string().contains("must be a mapping, not a list"), "{err}");
    // A value that breaks YAML once inserted is caught too.
    let mut req = request(&[("t", "backend: {{ BACKEND }}\n")]);
    req.version_values.insert("BACKEND".into(), "a: b: c".into());
    assert!(matches!(render(&req).unwrap_err(), RenderError::Yaml { .. }));
}

#[test]
fn yaml_bombs_and_oversized_documents_are_refused() {
    let mut bomb =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    let err = check_values("bomb", &bomb).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let big = format!("a: \"{}\"\n", "x".repeat(MAX_TEMPLATE_BYTES));
    assert!(matches!(
        render(&request(&[("t", &big)])).unwrap_err(),
        RenderError::TooLarge { .. }
    ));
    let blowup = "{% for i in range(2000) %}k{{ i }}: \"{{ 'x' * 1000 }}\"\n{% endfor %}";
    assert!(matches!(
        render(&request(&[("t", blowup)])).unwrap_err(),
        RenderError::TooLarge { .. }
    ));
}

#[test]
fn version_values_cannot_override_builtins() {
    let mut req = request(&[("t", "tag: {{ VERSION_NAME }}\n")]);
    req.version_values.insert("VERSION_NAME".into(), "latest".into());
    let err = render(&req).unwrap_err();
    assert_eq!(
        err,
        RenderError::Variable {
            name: "VERSION_NAME".into(),
            message: "'VERSION_NAME' is a built-in variable and cannot be defined or overridden".into()
        }
    );
}

#[test]
fn hash_changes_with_any_rendered_input() {
    let base = render(&request(&[("t", "a: {{ REPLICAS }}\n")])).unwrap();
    let same = render(&request(&[("t", "a: {{ REPLICAS }}\n")])).unwrap();
    assert_eq!(base.hash, same.hash);
    let mut digest = request(&[("t", "a: {{ REPLICAS }}\n")]);
    digest.builtins.image_digest = Some("sha256:def".into());
    let mut value = request(&[("t", "a: {{ REPLICAS }}\n")]);
    value.version_values.insert("REPLICAS".into(), "4".into());
    let content = request(&[("t", "a: {{ REPLICAS }} \n")]);
    for other in [digest, value, content] {
        assert_ne!(render(&other).unwrap().hash, base.hash);
    }
}

#[test]
fn variable_names() {
    assert!(check_variable_name("BACKEND_URL").is_ok());
    assert!(check_variable_name("_x1").is_ok());
    for bad in ["", "1abc", "with-dash", "a b", "URLS", "fn", "IMAGE_TAG"] {
        assert!(check_variable_name(bad).is_err(), "{bad}");
    }
}

proptest! {
    #[test]
    fn safe_version_name_is_lowercase_alphanumeric_and_short(tag in "\\PC{0,100}") {
        let safe = safe_version_name(&tag);
        prop_assert!(safe.chars().count() <= 63);
        prop_assert!(safe.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let expected: String = tag.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
        // Exactly the first 63 of them: cut no shorter.
        prop_assert_eq!(safe, expected.chars().take(63).collect::<String>());
    }

    #[test]
    fn precedence_defaults_then_builtins_then_version_values(
        default in "[a-z]{1,10}",
        version_value in proptest::option::of("[a-z]{1,10}"),
        tag in "[A-Za-z0-9._-]{1,20}",
    ) {
        let mut req = request(&[("t", "v: \"{{ BACKEND }}\"\ntag: \"{{ VERSION_NAME }}\"\n")]);
        req.builtins.version_name = tag.clone();
        req.variables = vec![
            Variable { name: "BACKEND".into(), default_value: default.clone() },
            // A project variable named like a built-in never wins over the built-in.
            Variable { name: "VERSION_NAME".into(), default_value: "shadow".into() },
        ];
        req.version_values = version_value.iter().map(|v| ("BACKEND".to_string(), v.clone())).collect();
        let out = render(&req).unwrap();
        let expected = version_value.unwrap_or(default);
        prop_assert_eq!(&out.templates[0].values, &format!("v: \"{expected}\"\ntag: \"{tag}\"\n"));
    }
}

#[test]
fn lint_names_unknown_variables_and_yaml_errors() {
    let vars = vec!["BACKEND".to_string()];
    assert!(
        lint(
            "web",
            "backend: {{ BACKEND }}\nhost: {{ URLS[0] }}\ntag: {{ fn.lowerCase(IMAGE_TAG) }}\n",
            &vars
        )
        .is_ok()
    );
    let e = lint("web", "backend: {{ BACKND }}\n", &vars)
        .unwrap_err()
        .to_string();
    assert!(e.contains("BACKND"), "{e}");
    let e = lint("web", "a: 1\n b: {{ BACKEND }}\n", &vars)
        .unwrap_err()
        .to_string();
    assert!(e.contains("valid YAML (line 2"), "{e}");
    let e = lint("web", "a: {{ BACKEND\n", &vars).unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
}

/// Renders `body` as the only template and returns its error, which must come quickly.
fn refused(body: &str) -> RenderError {
    let started = std::time::Instant::now();
    let result = render(&request(&[("t", body)]));
    let took = started.elapsed();
    let short: String = body.chars().take(200).collect();
    assert!(
        took < std::time::Duration::from_secs(10),
        "{short}: took {took:?}"
    );
    match result {
        Err(e) => e,
        Ok(out) => panic!("{short}: rendered {} bytes", out.templates[0].values.len()),
    }
}

/// Each of these would allocate gigabytes (or overflow the stack) without the limits; each
/// must end in a clear error, at once.
#[test]
fn templates_cannot_exhaust_memory() {
    let doubling = |op: &str, start: &str| {
        let mut t = format!("{{% set a = {start} %}}");
        for _ in 0..40 {
            t.push_str(&format!("{{% set a = {op} %}}"));
        }
        t + "a: 1\n"
    };
    let nested_lists = "{% set a = [] %}".to_owned() + &"{% set a = [a] %}".repeat(40) + "a: 1\n";
    let cases: Vec<(String, &str)> = vec![
        // Arguments that allocate at once.
        (r#"{{ "x"|indent(1000000000000) }}"#.into(), "template too large"),
        ("{{ 'x\\ny\\n'|indent(width=600000) }}".into(), "template too large"),
        ("{{ 'x' * 100000000 }}".into(), "template too large"),
        ("{% for i in range(1000) %}{{ ('x' * 100000000)|length }}{% endfor %}".into(), "template too large"),
        ("{{ (['x'] * 1000000000000)|length }}".into(), "template too large"),
        ("{{ ('x' * 1000)|replace('', 'y' * 10000) }}".into(), "template too large"),
        ("{{ ('ab' * 1000)|replace('a', 'y' * 10000) }}".into(), "template too large"),
        ("{{ (['x' * 1000] * 500)|join('y' * 10000) }}".into(), "template too large"),
        ("{{ '%999999999s'|format('x') }}".into(), "template too large"),
        ("{{ ('%s' * 1000)|format('x' * 100000) }}".into(), "template too large"),
        // Widths and precisions Rust's formatting cannot take (found by render_fuzz).
        ("{{ '%.100000f'|format(1.5) }}".into(), "format width or precision above 65535"),
        ("{{ '%70000d'|format(1) }}".into(), "format width or precision above 65535"),
        ("{{ '%*d'|format(70000, 1) }}".into(), "format width or precision above 65535"),
        ("{{ range(10)|batch(1000000000000) }}".into(), "template too large"),
        ("{{ range(10)|slice(1000000000000) }}".into(), "template too large"),
        ("{{ ('x ' * 300000)|split|length }}".into(), "template too large"),
        ("{{ ('x' * 200000)|split('')|length }}".into(), "template too large"),
        ("{{ fn.replace('x' * 100000, 'x', 'y' * 100000) }}".into(), "template too large"),
        // Growth by doubling: strings, lists, through every operator.
        (doubling("a ~ a", "'x' * 1000"), "template too large"),
        (doubling("a + a", "'x' * 1000"), "template too large"),
        (doubling("a * 2", "'x' * 1000"), "template too large"),
        (doubling("a + a", "[1] * 1000"), "template too large"),
        (doubling("a * 2", "[1, 2]"), "template too large"),
        ("{% set a = 'x' * 1000 %}{% set b = [a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c] %}{{ d|pprint }}".into(), "template too large"),
        (nested_lists, "nest more than"),
        ("{% set m = {'a': 'x' * 600000} %}{% set n = {'a': m, 'b': m} %}a: 1\n".into(), "template too large"),
        // Many values that each fit: the render's total is bounded.
        ("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{% set t = s|upper %}{% endfor %}".into(), "template too large"),
        ("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{% set t = s[1:] %}{% endfor %}".into(), "template too large"),
        ("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{% set t = s ~ '' %}{% endfor %}".into(), "template too large"),
        ("{% for i in range(100000) %}{% set t = range(100000)|list %}{% endfor %}".into(), "template too large"),
        ("{{ range(100000)|zip(range(100000), range(100000), range(100000))|list|length }}".into(), "template too large"),
        // Output is limited as it is written.
        ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}".into(), "over 1024 KiB"),
        // MiniJinja's own limits and errors still apply.
        ("{{ range(10**9)|length }}".into(), "range has too many elements"),
        ("{{ 'x'|tojson }}".into(), "is unknown"),
        ("{{ 'x'|center(1000000000) }}".into(), "is unknown"),
        ("{{ 'x'|wordwrap(10) }}".into(), "is unknown"),
        ("{{ 'x'|urlencode }}".into(), "is unknown"),
        // What could capture or recurse without bound is refused before rendering.
        ("{% set ns = namespace(a='x') %}{% for i in range(40) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}".into(), "not supported"),
        ("{{ namespace() }}".into(), "namespace() is not available"),
        ("{{ debug() }}".into(), "debug() is not available"),
        ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}".into(), "macros are not supported"),
        ("{% set x %}{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}{% endset %}".into(), "{% set %} blocks are not supported"),
        ("{% filter upper %}{% for i in range(100000) %}x{% endfor %}{% endfilter %}".into(), "{% filter %} blocks are not supported"),
        ("{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}".into(), "recursive loops are not supported"),
        ("{{ range(*[1, 2]) }}".into(), "argument unpacking"),
        ("{{ __oneko_cat('a') }}".into(), "reserved"),
        ("{{ 'a'|__oneko_x }}".into(), "reserved"),
        ("{% include 'x' %}".into(), "not supported"),
        // Deep nesting never reaches MiniJinja's recursive parser.
        (format!("{{{{ {}1{} }}}}", "(".repeat(200), ")".repeat(200)), "nested too deeply"),
        (format!("{{{{ {}1{} }}}}", "[".repeat(200), "]".repeat(200)), "nested too deeply"),
        (format!("{{{{ {}1 }}}}", "-".repeat(100_000)), "expression too long"),
        (format!("{{{{ {}x }}}}", "not ".repeat(20_000)), "expression too long"),
        (format!("{{{{ 1{} }}}}", " + 1".repeat(50_000)), "expression too long"),
        (format!("{{{{ x{} }}}}", "|e".repeat(50_000)), "expression too long"),
        (format!("{}{}", "{% if true %}".repeat(5000), "{% endif %}".repeat(5000)), "nested too deeply"),
        (format!("{{% if false %}}{}{{% endif %}}", "{% elif false %}".repeat(5000)), "nested too deeply"),
    ];
    for (template, expected) in &cases {
        let short: String = template.chars().take(200).collect();
        let err = refused(template);
        let text = err.to_string();
        assert!(text.contains(expected), "{short}: {text}");
        if *expected == "template too large" {
            assert!(matches!(err, RenderError::Limit { .. }), "{short}: {err:?}");
        }
    }
}

/// Values the limits allow still render: a document near the output limit, built with loops,
/// concatenation, lists, maps and filters.
#[test]
fn large_but_legal_templates_render() {
    let body = "{% set pad = 'x' * 40 %}{% set tags = [] %}\
        {% for i in range(12000) %}k{{ i }}: \"{{ pad ~ '-' ~ i }}\"\n{% endfor %}\
        list: {{ (range(1000)|list + range(1000)|list)|length }}\n\
        map: {{ dict(a=1, b=[1, 2, 3])|dictsort|length }}\n\
        text: \"{{ ('ab ' * 10000)|upper|replace('A', 'a')|trim|length }}\"\n\
        indented: |\n{{ ('line\\n' * 1000)|indent(4, true) }}\n\
        empty: {{ ([] * 1000000000000000000)|length }} {{ ('' * 1000000000000000000)|length }}\n";
    let out = render(&request(&[("t", body)])).unwrap();
    let values = &out.templates[0].values;
    assert!(
        values.len() > 600_000 && values.len() <= MAX_OUTPUT_BYTES,
        "{}",
        values.len()
    );
    assert!(values.contains("k11999: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-11999\"\n"));
    assert!(values.contains("list: 2000\n"));
    assert!(values.contains("map: 2\n"));
    assert!(values.contains("text: \"29999\"\n"));
    // Nothing repeated 10^18 times is nothing, at once (render_fuzz found it spinning).
    assert!(values.contains("empty: 0 0\n"));
}

/// A template that uses what the rewrite touches renders exactly as plain MiniJinja renders it.
#[test]
fn rewritten_templates_mean_the_same() {
    let cases = [
        "{{ 'a' ~ 1 ~ none ~ true }} {{ 1 + 2 * 3 - 4 / 2 }} {{ 2 ** 3 ** 2 }} {{ 7 // 2 }} {{ 7 % 3 }}",
        "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1, 2] * 2 }} {{ 2 * (1, 2) }} {{ [1] + [2, 3] }} {{ 'a' + 'b' }}",
        "{{ 1.5 + 1 }} {{ 1 + 1.5 }} {{ 2 * 1.5 }} {{ 9223372036854775807 + 1 }} {{ true + 1 }}",
        "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3][-1] }} {{ range(10)[2:8:2] }}",
        "{{ {'b': 1, 'a': [1, {'c': 2}]} }} {{ {'a': 1}.a }} {{ {'a': 1}['a'] }} {{ () }} {{ (1,) }} {{ (1, 2) }}",
        "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 3, 4 %}{{ c }}",
        "{% for k, v in {'x': 1, 'y': 2}|dictsort %}{{ loop.index }}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}",
        "{% for x in range(5) if x is odd %}{{ x }}{% else %}none{% endfor %}{% for x in [] %}{% else %}empty{% endfor %}",
        "{% with a = 1, b = [2] %}{{ a ~ b }}{% endwith %}",
        "{{ -1|abs }} {{ -(1 + 2) }} {{ not 1 in [1] }} {{ 1 not in [2] }} {{ 1 < 2 < 3 }} {{ 'a' if 1 else 'b' }} {{ ('a' if 0) is undefined }}",
        "{{ [3, 1, 2]|sort|join(',') }} {{ 'a b c'|split|list }} {{ 'x\ny'|lines }} {{ [1, 2, 1]|unique|list }} {{ [1, 2]|map('string')|join }}",
        "{{ 'x'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ '%s-%05d'|format('a', 3) }}|{{ [1, [2]]|pprint }}",
        "{{ range(6)|batch(4)|list }} {{ range(5)|slice(2)|list }} {{ [1, 2]|zip([3, 4])|list }} {{ [1]|chain([2])|list }}",
        "{{ [{'a': 1}, {'a': 2}]|selectattr('a', 'odd')|list }} {{ [{'g': 1, 'v': 'x'}, {'g': 1, 'v': 'y'}]|groupby('g')|map(attribute='list')|list }}",
        "{% for g in [{'g': 'a'}, {'g': 'b'}]|groupby('g') %}{{ g.grouper }}:{{ g.list|length }};{% endfor %}{% for grouper, list in [{'g': 1}]|groupby('g') %}{{ grouper }}{{ list }}{% endfor %}",
        "{{ dict(a=1, b=2) }} {{ dict({'x': 1}, y=2)|items|list }} {{ {'a': 1}|length }} {{ 'abc'|reverse }} {{ [1, 2]|reverse|list }}",
        "{{ 'Hello World'|replace('o', '0')|upper|lower|title|capitalize }} {{ '  x  '|trim }} {{ 42|string ~ 'x' }} {{ 'a\"b' }}",
        "{{ \"it's\" \" adjacent\" }} {{ 0x1F + 0o7 + 0b1 + 1_000 }} {{ 1e3 }} {{ 'x' is string }} {{ 3 is divisibleby 3 }} {{ x is not defined }}",
        "{%- if true -%}  trimmed  {%- endif -%} {{- ' a ' -}} {# comment {{ x }} #}{% raw %}{{ raw }}{% endraw %}",
        "{{ range(3)|list + range(2)|list }} {{ (range(3)|list)[1] }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ [1, 5]|max }} {{ [1, 2]|sum }}",
        "{% set l = [1, 2] %}{% set l = l + [3] %}{{ l|length }}{{ l is sequence }}{{ {} is mapping }}{{ range(2) is iterable }}",
        "{{ fn.lowerCase('A' ~ 'B') }} {{ (fn.replace('a.b', '.', '-') ~ '!')|upper }} {{ URLS[0] }} {{ URLS|length }}",
        "{{ 'a' ~ VERSION_NAME ~ '-' ~ (SAFE_VERSION_NAME|upper)[:3] }}\n{{ [VERSION_NAME, IMAGE_TAG]|join(' ') }}",
    ];
    let ctx: BTreeMap<String, Value> = [
        ("VERSION_NAME", Value::from("v1.0")),
        ("IMAGE_TAG", Value::from("v1.0")),
        ("SAFE_VERSION_NAME", Value::from("v10")),
        ("fn", Value::from_object(helpers::Helpers)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain([(
        "URLS".to_owned(),
        limits::string_list(&["a.example".to_owned(), "b.example".to_owned()]),
    )])
    .collect();
    let ours = environment();
    let mut plain = Environment::new();
    plain.set_undefined_behavior(UndefinedBehavior::Strict);
    plain.set_keep_trailing_newline(true);
    plain.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let plain_ctx: BTreeMap<String, Value> = ctx
        .iter()
        .map(|(k, v)| {
            let v = if k == "URLS" {
                Value::from_serialize(vec!["a.example", "b.example"])
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    for case in cases {
        let expected = plain
            .render_str(case, &plain_ctx)
            .unwrap_or_else(|e| panic!("{case}: {e:#}"));
        let got = render_one(&ours, "t", case, &ctx).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(got, expected, "{case}\nrewritten: {:?}", sandbox::prepare(case));
    }
}

/// Random expressions over small values: whatever plain MiniJinja renders, the rewritten
/// template renders identically, and what it refuses, the rewritten template refuses too.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0i64..20).prop_map(|n| n.to_string()),
        "[a-c ]{0,3}".prop_map(|s| format!("'{s}'")),
        prop::sample::select(vec![
            "VERSION_NAME",
            "none",
            "true",
            "[1, 2]",
            "{'a': 1, 'b': [2]}",
            "range(3)",
            "URLS",
            "1.5",
            "(1,)",
            "()",
            "missing",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let op = prop::sample::select(vec![
            "~", "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", "and", "or", "in", "not in",
        ]);
        let filter = prop::sample::select(vec![
            "upper",
            "length",
            "list",
            "string",
            "first",
            "last",
            "reverse",
            "sort",
            "join(',')",
            "default('d')",
            "abs",
            "int",
            "trim",
            "items",
            "unique",
            "lower",
            "title",
            "batch(2)",
            "slice(2)",
            "sum",
            "min",
            "max",
            "pprint",
            "dictsort",
            "indent(2)",
            "replace('a', 'b')",
            "split",
            "capitalize",
            "count",
            "bool",
            "format(1)",
            "map('upper')",
            "select('odd')",
            "reject",
            "lines",
            "e",
        ]);
        let test = prop::sample::select(vec![
            "defined", "string", "number", "sequence", "odd", "none", "mapping", "iterable",
        ]);
        prop_oneof![
            // MiniJinja folds constant `and`/`or` differently from how it evaluates them
            // (`[1] and ''` folds to false); a variable keeps both at run time.
            (inner.clone(), inner.clone(), op).prop_map(|(a, b, op)| match op {
                "and" | "or" => format!("(VERSION_NAME and {a}) {op} {b}"),
                _ => format!("{a} {op} {b}"),
            }),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("not {a}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{a}: {b}}}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("{a} if {b} else {c}")),
            (inner.clone(), filter).prop_map(|(a, f)| format!("{a}|{f}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            inner.clone().prop_map(|a| format!("{a}[1:]")),
            inner.clone().prop_map(|a| format!("{a}[::-1]")),
            (inner.clone(), test).prop_map(|(a, t)| format!("{a} is {t}")),
            inner.clone().prop_map(|a| format!("fn.upperCase({a})")),
            inner.clone().prop_map(|a| format!("dict(x={a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn random_expressions_mean_the_same(e in expression(), wrap in 0..3usize) {
        let template = match wrap {
            0 => format!("{{{{ {e} }}}}"),
            1 => format!("{{% set v = {e} %}}{{{{ v }}}}|{{{{ v is sequence }}}}"),
            _ => format!("{{% for x in {e} %}}{{{{ x }}}},{{% endfor %}}"),
        };
        let urls = ["a.example".to_owned(), "b.example".to_owned()];
        let mut ctx: BTreeMap<String, Value> = BTreeMap::from([
            ("VERSION_NAME".to_owned(), Value::from("v1.0")),
            ("fn".to_owned(), Value::from_object(helpers::Helpers)),
        ]);
        let mut plain_ctx = ctx.clone();
        ctx.insert("URLS".into(), limits::string_list(&urls));
        plain_ctx.insert("URLS".into(), Value::from_serialize(urls));
        let mut plain = Environment::new();
        plain.set_undefined_behavior(UndefinedBehavior::Strict);
        plain.set_keep_trailing_newline(true);
        plain.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let got = render_one(&environment(), "t", &template, &ctx);
        // Plain MiniJinja panics on some slices (`''[::-1]`); ours must not.
        let plain_render = std::panic::AssertUnwindSafe(|| plain.render_str(&template, &plain_ctx));
        let Ok(expected) = std::panic::catch_unwind(plain_render) else {
            return Ok(());
        };
        // Where the two may differ, on broken templates only:
        let known = |got: &Result<String, RenderError>, expected: &str| {
            let err = got.as_ref().err().map(ToString::to_string).unwrap_or_default();
            // a lazy sequence of unknown length is not printed by MiniJinja (and always true),
            // an error inside it shows only when iterated; ours are lists, checked when made
            // (so `chain` and `zip`, lazy in MiniJinja, are checked with fixed cases above);
            expected.replace(',', "").to_lowercase().contains("<iterator>")
                || err.contains("<invalid value")
                // MiniJinja reads `~ not x` as a call of a variable named `not`; refused here.
                || err.contains("cannot be used as a name")
        };
        // MiniJinja's negative-step slices of empty values yield a phantom item (or panic).
        if template.contains("[::-1]") && got.as_ref().ok() != expected.as_ref().ok() {
            return Ok(());
        }
        match expected {
            Ok(expected) if known(&got, &expected) => {}
            Ok(expected) => prop_assert_eq!(got, Ok(expected), "{}", template),
            Err(_) => prop_assert!(got.is_err(), "{template}: plain MiniJinja refuses, ours gives {got:?}"),
        }
    }
}

#[test]
fn syntax_errors_read_like_minijinja() {
    assert_eq!(
        check_syntax("a: 1\n{{ x "),
        Some("line 2: unexpected end of input, expected end of variable block".into())
    );
    assert_eq!(
        check_syntax("{% for %}"),
        Some("line 1: unexpected end of block, expected in".into())
    );
    assert_eq!(
        check_syntax("{{ 'unclosed }}"),
        Some("line 1: unexpected end of string".into())
    );
    assert_eq!(
        check_syntax("ok: 1\n\n{% macro m() %}{% endmacro %}"),
        Some("line 3: macros are not supported in O-Neko templates".into())
    );
    assert_eq!(
        check_syntax("a: {{ x ~ y|upper }}\n{% for i in range(3) %}{{ i }}{% endfor %}"),
        None
    );
    // Lines survive the rewrite: a runtime error names the user's line.
    let err = render(&request(&[(
        "t",
        "a: 1\nb: {{ 1 ~ 2 }}\nc: {{\n 'x'\n * 10000000 }}\n",
    )]))
    .unwrap_err();
    assert!(matches!(err, RenderError::Limit { line: Some(3), .. }), "{err:?}");
}

#[test]
fn url_templates_must_render_http_links() {
    use app::model::link_href;
    assert_eq!(
        link_href("shop.example.com/x").as_deref(),
        Some("http://shop.example.com/x")
    );
    assert_eq!(
        link_href(" https://a.example:8443/p ").as_deref(),
        Some("https://a.example:8443/p")
    );
    assert_eq!(
        link_href("javascript:alert(1)"),
        None,
        "becomes http://javascript:alert(1): no port"
    );
    assert_eq!(link_href("javascript://%0aalert(1)"), None);
    assert_eq!(link_href("data:text/html,x"), None);
    assert_eq!(link_href("http://a.example/\nx y"), None);
    for ok in [
        "shop-{{ SAFE_VERSION_NAME }}.example.com",
        "https://{{ SAFE_VERSION_NAME }}.example.com/path?q=1#x",
        "HTTP://host:8080",
        "host:8080/x",
        "http://[::1]:3000/",
    ] {
        assert_eq!(check_url_template(ok), Ok(()), "{ok}");
    }
    for bad in [
        "javascript:alert(1)",
        "javascript://%0aalert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "{{ 'java' ~ 'script' }}:alert(1)",
        "vbscript:msgbox",
        "ftp://files.example.com",
        "http://exa mple.com",
        "https://",
    ] {
        let e = check_url_template(bad).unwrap_err();
        assert!(e.contains("not an http:// or https:// link"), "{bad}: {e}");
    }
    // Stored before the check: rendered, dropped from the links with a warning, still in URLS.
    let mut req = request(&[("t", "urls: {{ URLS|length }}\n")]);
    req.url_templates = vec![
        "ok.example.com".into(),
        "javascript:alert({{ VERSION_NAME|length }})".into(),
    ];
    let out = render(&req).unwrap();
    assert_eq!(out.urls, ["ok.example.com"]);
    assert_eq!(out.url_warnings.len(), 1);
    assert!(
        out.url_warnings[0].starts_with("URL template 2: it renders 'javascript:alert(17)'"),
        "{:?}",
        out.url_warnings
    );
    assert_eq!(out.templates[0].values, "urls: 2\n");
}
