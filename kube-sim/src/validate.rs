//! Object name and metadata validation with the apiserver's messages.

use serde_json::Value;

use crate::errors::ApiError;
use crate::registry::ResourceType;

pub const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
pub const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
pub const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = vec![];
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = vec![];
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label(s) || !s.as_bytes()[0].is_ascii_lowercase() {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = vec![];
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(is_label) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

fn is_path_segment(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut errs = vec![];
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

fn name_errors(rt: &ResourceType, name: &str) -> Vec<String> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => is_dns1123_label(name),
        ("", "services") => is_dns1035_label(name),
        ("rbac.authorization.k8s.io", _) => is_path_segment(name),
        _ => is_dns1123_subdomain(name),
    }
}

fn quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn label_value_ok(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()))
}

fn label_key_ok(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(|p| is_dns1123_subdomain(p).is_empty()) && !name.is_empty() && label_value_ok(name)
}

/// Validates metadata of an object about to be stored. `name` is the final name.
pub fn validate_object(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut causes: Vec<(&str, String, String)> = vec![];
    if name.is_empty() {
        causes.push((
            "FieldValueRequired",
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else {
        for e in name_errors(rt, name) {
            causes.push((
                "FieldValueInvalid",
                "metadata.name".into(),
                format!("Invalid value: {}: {e}", quote(name)),
            ));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        match labels.as_object() {
            Some(m) => {
                for (k, v) in m {
                    if !label_key_ok(k) {
                        causes.push((
                            "FieldValueInvalid",
                            "metadata.labels".into(),
                            format!("Invalid value: {}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')", quote(k)),
                        ));
                    }
                    match v.as_str() {
                        Some(s) if label_value_ok(s) => {}
                        _ => causes.push((
                            "FieldValueInvalid",
                            "metadata.labels".into(),
                            format!("Invalid value: {}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')", v.as_str().map(quote).unwrap_or_else(|| v.to_string())),
                        )),
                    }
                }
            }
            None if labels.is_null() => {}
            None => return Err(ApiError::bad_request("metadata.labels must be a map of strings")),
        }
    }
    if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" && !name.is_empty() {
        let plural = obj
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
        if name != format!("{plural}.{group}") {
            causes.push((
                "FieldValueInvalid",
                "metadata.name".into(),
                format!(
                    "Invalid value: {}: must be spec.names.plural+\".\"+spec.group",
                    quote(name)
                ),
            ));
        }
    }
    if matches!(
        rt.plural.as_str(),
        "deployments" | "replicasets" | "statefulsets" | "daemonsets"
    ) && rt.group == "apps"
    {
        let sel = obj.pointer("/spec/selector");
        if sel.is_none_or(|s| s.is_null()) {
            causes.push((
                "FieldValueRequired",
                "spec.selector".into(),
                "Required value".into(),
            ));
        } else if let Some(sel) = sel {
            let selector = crate::selectors::LabelSelector::from_object(sel);
            let tmpl = serde_json::json!({"metadata": {"labels": obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(Value::Null)}});
            if selector.is_empty() {
                causes.push((
                    "FieldValueInvalid",
                    "spec.selector".into(),
                    format!("Invalid value: {sel}: empty selector is invalid for deployment"),
                ));
            } else if !selector.matches(&tmpl) {
                causes.push((
                    "FieldValueInvalid",
                    "spec.template.metadata.labels".into(),
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        obj.pointer("/spec/template/metadata/labels")
                            .cloned()
                            .unwrap_or(Value::Null)
                    ),
                ));
            }
        }
    }
    if rt.group.is_empty() && rt.plural == "pods" {
        let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
        if containers.is_none_or(|c| c.is_empty()) {
            causes.push((
                "FieldValueRequired",
                "spec.containers".into(),
                "Required value".into(),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&rt.group, &rt.kind, name, causes))
    }
}
