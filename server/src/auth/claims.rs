//! From what an identity provider says about a user to an O-Neko user: the role their groups
//! map to (`--oidc-roles`), the groups claim, an acceptable username.

use app::model::Role;
use std::str::FromStr;

/// `GROUP=ROLE` from `--oidc-roles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleMapping {
    pub group: String,
    pub role: Role,
}

impl FromStr for RoleMapping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // The last '=' splits: group names may contain one, roles never do.
        let (group, role) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("'{s}' is not GROUP=ROLE"))?;
        let group = group.trim();
        if group.is_empty() {
            return Err(format!("'{s}' names no group"));
        }
        Ok(RoleMapping {
            group: group.to_owned(),
            role: parse_role(role)?,
        })
    }
}

/// A role name in any case (`viewer`, `DOER`).
pub fn parse_role(s: &str) -> Result<Role, String> {
    s.trim().to_ascii_uppercase().parse()
}

/// The role for a user with `groups`: the highest any of them maps to, else the default; `None`
/// when neither applies (the user is refused).
pub fn role_for(groups: &[String], mappings: &[RoleMapping], default: Option<Role>) -> Option<Role> {
    mappings
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(|m| m.role)
        .max()
        .or(default)
}

/// A claim's groups: a list of strings, or one string; anything else holds none.
pub fn groups_of(claim: Option<&serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// A username O-Neko accepts, made from what the provider calls the user (`preferred_username`,
/// else the email's local part, else the subject): letters, digits, `.`, `_`, `-`, starting
/// with a letter or digit, at most 64 characters; anything else becomes `-`.
pub fn username_from(candidates: &[Option<&str>]) -> Option<String> {
    candidates.iter().flatten().find_map(|raw| {
        let cleaned: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .take(crate::auth::MAX_USERNAME)
            .collect();
        (!cleaned.is_empty()).then_some(cleaned)
    })
}

/// A display name from the provider as O-Neko keeps them: trimmed, without control characters,
/// at most 100 characters; none if nothing is left.
pub fn display_name(raw: Option<String>) -> Option<String> {
    let cleaned: String = raw?.chars().filter(|c| !c.is_control()).collect();
    let cleaned: String = cleaned.trim().chars().take(100).collect();
    (!cleaned.trim().is_empty()).then(|| cleaned.trim_end().to_owned())
}

/// An email from the provider, if it is one O-Neko would accept from an ADMIN.
pub fn email(raw: String) -> Option<String> {
    let mut v = crate::auth::Validator::default();
    let email = v.email("email", &raw);
    v.finish().ok().and(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mappings() -> Vec<RoleMapping> {
        ["platform=ADMIN", "developers=doer", "staff=Viewer", "a=b=DOER"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect()
    }

    #[test]
    fn mappings_parse_and_refuse_nonsense() {
        let m = mappings();
        assert_eq!(
            m[1],
            RoleMapping {
                group: "developers".into(),
                role: Role::Doer
            }
        );
        assert_eq!(m[3].group, "a=b", "the last '=' splits");
        for bad in ["developers", "=ADMIN", "x=ROOT"] {
            assert!(bad.parse::<RoleMapping>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_highest_mapped_role_wins_else_the_default_else_none() {
        let m = mappings();
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_for(&groups(&["staff", "platform"]), &m, None),
            Some(Role::Admin)
        );
        assert_eq!(
            role_for(&groups(&["developers", "x"]), &m, None),
            Some(Role::Doer)
        );
        assert_eq!(role_for(&groups(&["marketing"]), &m, None), None);
        assert_eq!(
            role_for(&groups(&["marketing"]), &m, Some(Role::Viewer)),
            Some(Role::Viewer)
        );
        assert_eq!(role_for(&[], &m, None), None);
    }

    #[test]
    fn groups_come_from_a_list_or_a_string() {
        assert_eq!(groups_of(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert_eq!(groups_of(Some(&json!("a"))), ["a"]);
        assert!(groups_of(Some(&json!({"a": 1}))).is_empty());
        assert!(groups_of(None).is_empty());
    }

    #[test]
    fn usernames_are_made_acceptable() {
        assert_eq!(username_from(&[Some("bob")]).as_deref(), Some("bob"));
        assert_eq!(username_from(&[Some("Bob Smith")]).as_deref(), Some("Bob-Smith"));
        assert_eq!(username_from(&[Some("__x@y")]).as_deref(), Some("x-y"));
        assert_eq!(
            username_from(&[None, Some("---"), Some("sub-1")]).as_deref(),
            Some("sub-1")
        );
        assert_eq!(username_from(&[Some(&"a".repeat(100))]).unwrap().len(), 64);
        assert_eq!(username_from(&[None, Some("")]), None);
    }

    #[test]
    fn profile_text_is_cleaned_before_it_is_stored() {
        assert_eq!(
            display_name(Some("  Bob \u{7} Smith ".into())).as_deref(),
            Some("Bob  Smith")
        );
        assert_eq!(display_name(Some("x".repeat(300))).unwrap().chars().count(), 100);
        assert_eq!(display_name(Some(" \n ".into())), None);
        assert_eq!(display_name(None), None);
        assert_eq!(
            email("bob@example.test".into()).as_deref(),
            Some("bob@example.test")
        );
        assert_eq!(email("not an email".into()), None);
        assert_eq!(email(format!("{}@example.test", "a".repeat(300))), None);
    }
}
