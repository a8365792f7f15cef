//! The original O-Neko's `fn.*` string helpers (Apache Commons `StringUtils` semantics), so
//! existing templates keep working: `{{ fn.lowerCase(VERSION_NAME) }}`.

use minijinja::{Error, ErrorKind, State, Value, value::Object};
use std::sync::Arc;

/// The `fn` object templates see.
#[derive(Debug)]
pub struct Helpers;

fn arg_str(args: &[Value], i: usize, method: &str) -> Result<String, Error> {
    match args.get(i) {
        Some(v) if v.is_undefined() || v.is_none() => Ok(String::new()),
        Some(v) => Ok(v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
        None => Err(Error::new(
            ErrorKind::MissingArgument,
            format!("fn.{method} needs argument {}", i + 1),
        )),
    }
}

fn arg_int(args: &[Value], i: usize, method: &str) -> Result<i64, Error> {
    let v = args.get(i).ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            format!("fn.{method} needs argument {}", i + 1),
        )
    })?;
    i64::try_from(v.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("fn.{method}: argument {} must be a number", i + 1),
        )
    })
}

fn chars_take(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `replace(text, search, replacement, max)`: up to `max` occurrences (`-1`: all), like StringUtils.
pub fn replace(text: &str, search: &str, replacement: &str, max: i64) -> String {
    if search.is_empty() || max == 0 {
        return text.to_owned();
    }
    if max < 0 {
        return text.replace(search, replacement);
    }
    text.replacen(search, replacement, max as usize)
}

/// `suffixWithMaxLength(str, suffix, maxLen)`: `str + suffix`, with `str` cut so that the result
/// is at most `maxLen` characters (the suffix overlays the end).
pub fn suffix_with_max_length(s: &str, suffix: &str, max_len: usize) -> String {
    let suffix_len = suffix.chars().count();
    if suffix_len >= max_len {
        return chars_take(suffix, max_len);
    }
    let keep = max_len - suffix_len;
    format!("{}{suffix}", chars_take(s, keep))
}

impl Object for Helpers {
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let s = |i| arg_str(args, i, method);
        let out = match method {
            "lowerCase" => s(0)?.to_lowercase(),
            "upperCase" => s(0)?.to_uppercase(),
            "trim" => s(0)?.trim().to_owned(),
            "truncate" => chars_take(&s(0)?, arg_int(args, 1, method)?.max(0) as usize),
            "replace" => {
                let max = if args.len() > 3 {
                    arg_int(args, 3, method)?
                } else {
                    -1
                };
                let (text, search, replacement) = (s(0)?, s(1)?, s(2)?);
                // Refused before it is built: every hit may grow the text by the replacement.
                let hits = if search.is_empty() {
                    0
                } else {
                    text.matches(search.as_str()).count()
                };
                let hits = usize::try_from(max).map_or(hits, |m| hits.min(m));
                super::limits::check_len(
                    hits.checked_mul(replacement.len())
                        .and_then(|n| n.checked_add(text.len())),
                )?;
                replace(&text, &search, &replacement, max)
            }
            "removeStart" => {
                let (text, prefix) = (s(0)?, s(1)?);
                text.strip_prefix(prefix.as_str())
                    .map(str::to_owned)
                    .unwrap_or(text)
            }
            "removeEnd" => {
                let (text, suffix) = (s(0)?, s(1)?);
                text.strip_suffix(suffix.as_str())
                    .map(str::to_owned)
                    .unwrap_or(text)
            }
            "suffixWithMaxLength" => {
                suffix_with_max_length(&s(0)?, &s(1)?, arg_int(args, 2, method)?.max(0) as usize)
            }
            other => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!(
                        "fn.{other} does not exist (available: lowerCase, upperCase, trim, truncate, replace, \
                         removeStart, removeEnd, suffixWithMaxLength)"
                    ),
                ));
            }
        };
        super::limits::new_string(state, &out)?;
        Ok(Value::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_utils_semantics() {
        assert_eq!(replace("a-b-c", "-", "_", -1), "a_b_c");
        assert_eq!(replace("a-b-c", "-", "_", 1), "a_b-c");
        assert_eq!(replace("abc", "", "x", -1), "abc");
        assert_eq!(
            suffix_with_max_length("feature-very-long", "-svc", 10),
            "featur-svc"
        );
        assert_eq!(suffix_with_max_length("short", "-svc", 63), "short-svc");
        assert_eq!(suffix_with_max_length("x", "toolong", 3), "too");
    }
}
