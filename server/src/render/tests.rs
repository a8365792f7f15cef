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
