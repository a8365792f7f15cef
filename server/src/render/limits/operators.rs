//! The operators the rewritten template calls (`~`, `+`, `*`, slices, list and map literals):
//! each charges what it builds and refuses what would be too large.

use super::*;

pub(super) fn undefined_arg(args: &[Value]) -> Result<(), Error> {
    if args.iter().any(Value::is_undefined) {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// A `String` that refuses to grow past [`MAX_VALUE_BYTES`].
pub(super) struct Limited(String);

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.len() + s.len() > MAX_VALUE_BYTES {
            return Err(fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// `a ~ b ~ c`
pub(super) fn cat(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    undefined_arg(&args.0)?;
    let mut out = Limited(String::new());
    for a in &args.0 {
        let written = match a.as_str() {
            Some(s) => out.write_str(s),
            None => write!(out, "{a}"),
        };
        if written.is_err() {
            return Err(too_large(format!(
                "a string would be longer than {}",
                kib(MAX_VALUE_BYTES)
            )));
        }
    }
    charge(state, out.0.len() + STRING_COST)?;
    Ok(Value::from(out.0))
}

pub(super) fn is_seq(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Iterates at most [`MAX_ITEMS`] (+1, to notice more) items.
pub(super) fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.take(MAX_ITEMS + 1).collect())
}

/// `a + b + c`, folded from the left.
pub(super) fn add(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    fold(state, args.0, add2)
}

/// `a * b * c`, folded from the left.
pub(super) fn mul(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    fold(state, args.0, mul2)
}

type BinOp = fn(&State<'_, '_>, Value, Value) -> Result<Value, Error>;

pub(super) fn fold(state: &State<'_, '_>, args: Vec<Value>, op: BinOp) -> Result<Value, Error> {
    let mut args = args.into_iter();
    let first = args.next().unwrap_or_default();
    args.try_fold(first, |acc, v| op(state, acc, v))
}

pub(super) fn add2(state: &State<'_, '_>, a: Value, b: Value) -> Result<Value, Error> {
    undefined_arg(&[a.clone(), b.clone()])?;
    if is_seq(&a) && is_seq(&b) {
        let mut all = items(&a)?;
        check_container(all.len(), 0, 0)?;
        all.extend(items(&b)?);
        return build_list(state, all, true);
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        check_len(x.len().checked_add(y.len()))?;
        charge(state, x.len() + y.len() + STRING_COST)?;
        return Ok(Value::from([x, y].concat()));
    }
    if let (true, true, Some(x), Some(y)) = (a.is_integer(), b.is_integer(), a.as_i64(), b.as_i64()) {
        return Ok(int(i128::from(x) + i128::from(y)));
    }
    delegate("a + b", &[a, b])
}

pub(super) fn mul2(state: &State<'_, '_>, a: Value, b: Value) -> Result<Value, Error> {
    undefined_arg(&[a.clone(), b.clone()])?;
    let repeat = a
        .as_str()
        .map(|s| (s, &b))
        .or_else(|| b.as_str().map(|s| (s, &a)));
    if let Some((s, n)) = repeat {
        if let Some(n) = n.as_usize() {
            check_len(s.len().checked_mul(n))?;
            charge(state, s.len() * n + STRING_COST)?;
            return Ok(Value::from(s.repeat(n)));
        }
        return delegate("a * b", &[a, b]);
    }
    let seq = if is_seq(&a) && a.as_object().is_some() {
        Some((&a, &b))
    } else if is_seq(&b) && b.as_object().is_some() {
        Some((&b, &a))
    } else {
        None
    };
    if let Some((seq, n)) = seq {
        if let Some(n) = n.as_usize() {
            let one = items(seq)?;
            check_container(one.len().saturating_mul(n), 0, 0)?;
            // An empty list repeated is empty at once: iterating `n` empty copies would spin.
            let all = if one.is_empty() {
                vec![]
            } else {
                std::iter::repeat_n(one, n).flatten().collect()
            };
            return build_list(state, all, true);
        }
        return delegate("a * b", &[a, b]);
    }
    if let (true, true, Some(x), Some(y)) = (a.is_integer(), b.is_integer(), a.as_i64(), b.as_i64()) {
        return Ok(int(i128::from(x) * i128::from(y)));
    }
    delegate("a * b", &[a, b])
}

/// MiniJinja's integer results: i64 when it fits.
pub(super) fn int(v: i128) -> Value {
    i64::try_from(v).map_or_else(|_| Value::from(v), Value::from)
}

/// `v[start:stop:step]`, with Python's semantics. Done here, not by MiniJinja: its slices
/// with a negative step panic on empty values (`''[::-1]`) and on a stop past the start.
pub(super) fn slice(
    state: &State<'_, '_>,
    v: Value,
    start: Value,
    stop: Value,
    step: Value,
) -> Result<Value, Error> {
    if v.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let index = |x: Value| -> Result<Option<i64>, Error> {
        if x.is_none() {
            Ok(None)
        } else {
            i64::try_from(x).map(Some)
        }
    };
    let (start, stop) = (index(start)?, index(stop)?);
    let step = index(step)?.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "cannot slice by step size of 0",
        ));
    }
    if let Some(s) = v.as_str() {
        // The slice is never longer than the string.
        charge(state, s.len() + STRING_COST)?;
        let chars: Vec<char> = s.chars().collect();
        let out: String = slice_indices(chars.len(), start, stop, step)
            .map(|i| chars[i])
            .collect();
        return Ok(if v.is_safe() {
            Value::from_safe_string(out)
        } else {
            Value::from(out)
        });
    }
    if v.is_none() {
        return make_list(state, vec![]);
    }
    if is_seq(&v) && v.as_object().is_some() {
        let all = items(&v)?;
        check_container(all.len(), 0, 0)?;
        let picked = slice_indices(all.len(), start, stop, step)
            .map(|i| all[i].clone())
            .collect();
        return build_list(state, picked, true);
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("value of type {} cannot be sliced", v.kind()),
    ))
}

/// The indices `[start:stop:step]` picks from `len` items (Python's rules; `step` is not 0).
pub(super) fn slice_indices(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> impl Iterator<Item = usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let (lo, hi) = if step > 0 { (0, len) } else { (-1, len - 1) };
    let norm = |x: Option<i64>, default: i64| match x {
        None => default,
        Some(x) if x < 0 => x.saturating_add(len).clamp(lo, hi),
        Some(x) => x.clamp(lo, hi),
    };
    let (from, to) = if step > 0 {
        (norm(start, 0), norm(stop, len))
    } else {
        (norm(start, len - 1), norm(stop, -1))
    };
    let mut i = from;
    std::iter::from_fn(move || {
        let inside = if step > 0 { i < to } else { i > to };
        if !inside {
            return None;
        }
        let at = i;
        i = i.saturating_add(step);
        usize::try_from(at).ok()
    })
}

/// `[a, b]`, `(a, b)`
pub(super) fn list(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    make_list(state, args.0)
}

/// `{k: v, …}`, as alternating keys and values.
pub(super) fn map(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    let mut pairs = Vec::with_capacity(args.0.len() / 2);
    let mut it = args.0.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    make_map(state, pairs)
}

/// Evaluates a MiniJinja operator on values that cannot grow (numbers, errors), so its exact
/// semantics and messages stay MiniJinja's.
pub(super) fn delegate(expr: &'static str, args: &[Value]) -> Result<Value, Error> {
    static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    });
    thread_local! {
        static COMPILED: RefCell<HashMap<&'static str, minijinja::Expression<'static, 'static>>> =
            RefCell::new(HashMap::new());
    }
    let ctx: BTreeMap<&str, Value> = ["a", "b", "c", "d"]
        .into_iter()
        .zip(args.iter().cloned())
        .collect();
    let result = COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if !c.contains_key(expr) {
            c.insert(expr, ENV.compile_expression(expr)?);
        }
        c[expr].eval(ctx)
    });
    // MiniJinja puts the caller's line on the error, not this expression's.
    result.map_err(|e| Error::new(e.kind(), e.detail().map(str::to_owned).unwrap_or_default()))
}
