//! Checks before a filter or function runs: arguments whose result would be too large, or
//! that Rust's formatting cannot take, are refused before anything is allocated.

use super::*;

/// The largest width or precision a `format` spec may name.
const MAX_FORMAT_NUMBER: usize = u16::MAX as usize;

/// Positional arguments and keyword arguments of a call.
pub(super) fn split_args(args: &[Value]) -> (&[Value], Option<&Value>) {
    match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(last)),
        _ => (args, None),
    }
}

pub(super) fn kwarg(kwargs: Option<&Value>, name: &str) -> Option<Value> {
    kwargs
        .and_then(|k| k.get_attr(name).ok())
        .filter(|v| !v.is_undefined())
}

/// The text of a value as a string-taking filter sees it.
pub(super) fn text(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(v) => v.as_str().map_or_else(|| v.to_string(), str::to_owned),
    }
}

/// `format`: refuses a spec Rust's formatting cannot take, and a result that would be too large
/// (every spec as wide as the widest argument, plus the widths and precisions).
pub(super) fn check_format(pos: &[Value]) -> Result<(), Error> {
    let fmt = text(pos.first());
    let specs = fmt.bytes().filter(|&b| b == b'%').count();
    let widest = pos[1.min(pos.len())..]
        .iter()
        .map(|v| meta(v).size)
        .max()
        .unwrap_or(0);
    // Widths and precisions, written (`%-9999.99s`, `%(key)9s`) or passed (`%*s`).
    let number = |s: &str| -> (usize, usize) {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        (
            s[..digits]
                .parse()
                .unwrap_or(if digits > 0 { usize::MAX } else { 0 }),
            digits,
        )
    };
    let numbers: Vec<(usize, usize)> = fmt
        .split('%')
        .skip(1)
        .map(|spec| {
            let spec = spec
                .strip_prefix('(')
                .and_then(|s| s.split_once(')'))
                .map_or(spec, |(_, s)| s);
            let spec = spec.trim_start_matches(['-', '+', ' ', '#', '0']);
            let (width, n) = number(spec);
            let precision = spec[n..].strip_prefix('.').map_or(0, |p| number(p).0);
            (width, precision)
        })
        .collect();
    // Rust's formatting (which MiniJinja's uses) panics on a width or precision above
    // u16::MAX, whatever the output size; so does one passed as an argument (`%*d`).
    let passed_number = fmt.contains('*')
        && pos[1.min(pos.len())..]
            .iter()
            .filter_map(Value::as_usize)
            .any(|n| n > MAX_FORMAT_NUMBER);
    if passed_number || numbers.iter().any(|&(w, p)| w.max(p) > MAX_FORMAT_NUMBER) {
        return Err(too_large(format!(
            "a format width or precision above {MAX_FORMAT_NUMBER}"
        )));
    }
    let written: usize = numbers
        .iter()
        .map(|&(width, precision)| width.saturating_add(precision))
        .fold(0, usize::saturating_add);
    let passed: usize = pos
        .iter()
        .filter_map(Value::as_usize)
        .fold(0, usize::saturating_add);
    let bound = specs
        .checked_mul(widest)
        .and_then(|n| n.checked_add(fmt.len()))
        .and_then(|n| n.checked_add(written))
        .and_then(|n| n.checked_add(passed));
    check_len(bound)?;
    Ok(())
}

/// Refuses calls whose result would be too large, before the filter allocates it.
pub(super) fn precheck(state: &State<'_, '_>, name: &str, args: &[Value]) -> Result<(), Error> {
    let (pos, kwargs) = split_args(args);
    let arg = |i: usize| pos.get(i);
    match name {
        "indent" => {
            let s = text(arg(0));
            let width = arg(1)
                .cloned()
                .or_else(|| kwarg(kwargs, "width"))
                .map_or(Some(4), |w| w.as_usize());
            // A width that is not a number is MiniJinja's error to report.
            if let Some(width) = width {
                let lines = s.bytes().filter(|&b| b == b'\n').count() + 2;
                check_len(lines.checked_mul(width).and_then(|n| n.checked_add(s.len())))?;
            }
        }
        "replace" => {
            let (s, from, to) = (text(arg(0)), text(arg(1)), text(arg(2)));
            let hits = if from.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(from.as_str()).count()
            };
            // With auto-escaping on, both sides may be escaped first (at most 6 times longer).
            let grow = if matches!(state.auto_escape(), minijinja::AutoEscape::None) {
                1
            } else {
                6
            };
            let bound = hits
                .checked_mul(to.len())
                .and_then(|n| n.checked_add(s.len()))
                .and_then(|n| n.checked_mul(grow));
            check_len(bound)?;
        }
        "join" => {
            let (seq, sep) = (arg(0), text(arg(1)));
            if let Some(seq) = seq {
                let n = seq.len().unwrap_or(0);
                check_len(
                    n.checked_mul(sep.len())
                        .and_then(|x| x.checked_add(meta(seq).size)),
                )?;
            }
        }
        "format" => check_format(pos)?,
        "pprint" => {
            if let Some(v) = arg(0) {
                check_len(Some(written_size(v, MAX_VALUE_BYTES, true)))?;
            }
        }
        "batch" | "slice" => {
            if let Some(n) = arg(1).and_then(Value::as_usize) {
                check_container(n, 0, 0)?;
            }
        }
        "split" => {
            let s = text(arg(0));
            let pieces = match arg(1).filter(|v| !v.is_none()) {
                None => s.split_whitespace().count(),
                Some(sep) => {
                    let sep = text(Some(sep));
                    if sep.is_empty() {
                        s.chars().count() + 2
                    } else {
                        s.matches(sep.as_str()).count() + 1
                    }
                }
            };
            check_container(pieces, 0, 0)?;
        }
        "lines" => {
            check_container(text(arg(0)).lines().count(), 0, 0)?;
        }
        _ => {}
    }
    Ok(())
}
