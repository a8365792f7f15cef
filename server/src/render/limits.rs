//! The bounded runtime of O-Neko templates: every filter, function and (through `sandbox`'s
//! rewrite) every operator that builds a value checks the value's size before it allocates,
//! and charges what it allocates to a per-render budget. Together with fuel (instructions) and
//! the output limit this bounds a render's memory:
//!
//! - every value is at most [`MAX_VALUE_BYTES`] when written out (a list of a thousand copies
//!   of one big string is refused although it shares the string), holds at most
//!   [`MAX_ITEMS`] items and nests at most [`MAX_DEPTH`] levels, so printing, comparing or
//!   dropping any value is bounded;
//! - all values made during one render together cost at most [`MAX_WORK_BYTES`];
//! - what MiniJinja itself allocates per instruction (argument lists, loop state) is small and
//!   fuel-bounded.
//!
//! The environment starts empty (`Environment::empty()`): only what is installed here exists,
//! so a MiniJinja upgrade or feature cannot add an unbounded filter unnoticed. Lists and maps
//! are our own [`List`] and [`Map`] objects, which remember their size and depth.

use minijinja::{
    Environment, Error, ErrorKind, State, UndefinedBehavior, Value,
    value::{Enumerator, Object, ObjectExt, ObjectRepr, Rest, ValueKind},
};
use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    fmt::{self, Write as _},
    sync::{
        Arc, LazyLock,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Largest value (string, or a list or map written out).
pub const MAX_VALUE_BYTES: usize = super::MAX_OUTPUT_BYTES;
/// Most items in one list or map (MiniJinja's own limit for `range`).
pub const MAX_ITEMS: usize = 100_000;
/// Deepest nesting of lists and maps.
pub const MAX_DEPTH: usize = 32;
/// What one render may allocate in values, in total.
pub const MAX_WORK_BYTES: usize = 16 << 20;
/// Starts the message of every limit error (`RenderError::Limit`).
pub const LIMIT_PREFIX: &str = "template too large: ";

/// Charged per new string on top of its bytes, per list item, per map entry, per container.
const STRING_COST: usize = 32;
const ITEM_COST: usize = 48;
const ENTRY_COST: usize = 96;
const CONTAINER_COST: usize = 64;

pub fn too_large(what: impl fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{LIMIT_PREFIX}{what}"))
}

fn kib(n: usize) -> String {
    format!("{} KiB", n / 1024)
}

/// The render's running total, kept in the render's own state.
#[derive(Debug, Default)]
struct Budget {
    used: AtomicUsize,
}

impl Object for Budget {}

/// Records `bytes` of new values; fails once the render has made more than [`MAX_WORK_BYTES`].
pub fn charge(state: &State<'_, '_>, bytes: usize) -> Result<(), Error> {
    let budget = state.get_or_set_temp_object("__oneko_budget", Budget::default);
    let used = budget.used.load(Ordering::Relaxed).saturating_add(bytes);
    budget.used.store(used, Ordering::Relaxed);
    if used > MAX_WORK_BYTES {
        return Err(too_large(format!(
            "rendering would build more than {} MiB of values",
            MAX_WORK_BYTES >> 20
        )));
    }
    Ok(())
}

/// Checks and charges a string a filter or function made.
pub fn new_string(state: &State<'_, '_>, s: &str) -> Result<(), Error> {
    if s.len() > MAX_VALUE_BYTES {
        return Err(too_large(format!(
            "a string would be longer than {}",
            kib(MAX_VALUE_BYTES)
        )));
    }
    charge(state, s.len() + STRING_COST)
}

/// Refuses a value that would be longer than [`MAX_VALUE_BYTES`], before it is built.
pub fn check_len(bound: Option<usize>) -> Result<(), Error> {
    match bound {
        Some(n) if n <= MAX_VALUE_BYTES => Ok(()),
        _ => Err(too_large(format!(
            "a string would be longer than {}",
            kib(MAX_VALUE_BYTES)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Sizes

/// What a value costs when written out, and how deeply it nests.
#[derive(Clone, Copy, Debug, Default)]
struct Meta {
    size: usize,
    depth: usize,
}

/// Counts what `Display` writes, stopping past `limit`.
struct Counter {
    n: usize,
    limit: usize,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.n = self.n.saturating_add(s.len());
        if self.n > self.limit {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// Bytes `{v}` (or `{v:#?}`) writes, or more than `limit` once it exceeds it.
fn written_size(v: &Value, limit: usize, pretty: bool) -> usize {
    let mut c = Counter { n: 0, limit };
    let _ = if pretty {
        write!(c, "{v:#?}")
    } else {
        write!(c, "{v}")
    };
    c.n
}

fn meta(v: &Value) -> Meta {
    meta_at(v, 0)
}

fn meta_at(v: &Value, level: usize) -> Meta {
    let leaf = |size| Meta { size, depth: 0 };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None | ValueKind::Bool | ValueKind::Invalid => leaf(9),
        ValueKind::Number if v.is_integer() => leaf(42),
        // `Display` of an f64 writes every digit (1e308 is 309 of them).
        ValueKind::Number => leaf(400),
        ValueKind::String => leaf(v.as_str().map_or(0, str::len) + 2),
        ValueKind::Bytes => leaf(v.as_bytes().map_or(0, <[u8]>::len) * 4 + 3),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Plain => {
            if let Some(l) = v.downcast_object_ref::<List>() {
                l.meta
            } else if let Some(m) = v.downcast_object_ref::<Map>() {
                m.meta
            } else if let Some(r) = v.downcast_object_ref::<Range>() {
                r.meta
            } else if let Some(g) = v.downcast_object_ref::<Group>() {
                g.meta
            } else if level < MAX_DEPTH && matches!(v.kind(), ValueKind::Seq | ValueKind::Map) {
                // MiniJinja's own (keyword arguments): measured item by item.
                let mut m = Meta { size: 2, depth: 0 };
                for (i, item) in v.try_iter().into_iter().flatten().enumerate() {
                    if i > MAX_ITEMS {
                        return Meta {
                            size: usize::MAX,
                            depth: MAX_DEPTH + 1,
                        };
                    }
                    let value = if v.kind() == ValueKind::Map {
                        v.get_item(&item).unwrap_or_default()
                    } else {
                        Value::UNDEFINED
                    };
                    let (a, b) = (meta_at(&item, level + 1), meta_at(&value, level + 1));
                    m.size = m
                        .size
                        .saturating_add(a.size)
                        .saturating_add(b.size)
                        .saturating_add(4);
                    m.depth = m.depth.max(a.depth).max(b.depth);
                }
                m.depth += 1;
                m
            } else if level >= MAX_DEPTH {
                Meta {
                    size: usize::MAX,
                    depth: MAX_DEPTH + 1,
                }
            } else {
                // Loop objects, functions: small, and they hold only values measured elsewhere.
                Meta {
                    size: written_size(v, MAX_VALUE_BYTES, false),
                    depth: 1,
                }
            }
        }
        _ => Meta {
            size: written_size(v, MAX_VALUE_BYTES, false),
            depth: 1,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Our containers

/// A list (or tuple) that knows its size and depth. `lazy`: MiniJinja would have made a lazy
/// iterable here (`a + b`, `a * 3`, slices, `chain`), which templates can tell apart
/// (`is sequence`), so it keeps that kind.
#[derive(Debug)]
pub struct List {
    items: Vec<Value>,
    meta: Meta,
    lazy: bool,
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        if self.lazy {
            ObjectRepr::Iterable
        } else {
            ObjectRepr::Seq
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.items.get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// A map that knows its size and depth (ordered by key, like MiniJinja's own).
#[derive(Debug)]
pub struct Map {
    map: BTreeMap<Value, Value>,
    meta: Meta,
}

impl Object for Map {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.map.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        // As MiniJinja enumerates its own maps, so `reverse` and friends behave the same.
        self.mapped_rev_key_value_enumerator(|this| {
            Box::new(this.map.iter().map(|(k, v)| (k.clone(), v.clone())))
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.map.len())
    }
}

/// `range(…)`: lazy, like MiniJinja's.
#[derive(Debug)]
pub struct Range {
    start: i64,
    step: i64,
    len: usize,
    meta: Meta,
}

impl Object for Range {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let (start, step) = (self.start, self.step);
        let items = (0..self.len).map(move |i| Value::from(start + i as i64 * step));
        Enumerator::Iter(Box::new(items))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len)
    }
}

/// One group of `groupby`: `(grouper, list)`, also as `.grouper` and `.list`.
#[derive(Debug)]
pub struct Group {
    grouper: Value,
    list: Value,
    meta: Meta,
}

impl Object for Group {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (key.as_usize(), key.as_str()) {
            (Some(0), None) | (None, Some("grouper")) => Some(self.grouper.clone()),
            (Some(1), None) | (None, Some("list")) => Some(self.list.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(2)
    }
}

fn check_container(items: usize, size: usize, depth: usize) -> Result<(), Error> {
    if items > MAX_ITEMS {
        return Err(too_large(format!(
            "a list or map would have more than {MAX_ITEMS} items"
        )));
    }
    if size > MAX_VALUE_BYTES {
        return Err(too_large(format!(
            "a list or map would be longer than {} written out",
            kib(MAX_VALUE_BYTES)
        )));
    }
    if depth > MAX_DEPTH {
        return Err(too_large(format!(
            "lists and maps nest more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(())
}

/// Builds a checked, charged list.
pub fn make_list(state: &State<'_, '_>, items: Vec<Value>) -> Result<Value, Error> {
    build_list(state, items, false)
}

fn build_list(state: &State<'_, '_>, items: Vec<Value>, lazy: bool) -> Result<Value, Error> {
    check_container(items.len(), 0, 0)?;
    charge(state, CONTAINER_COST + items.len() * ITEM_COST)?;
    let mut m = Meta { size: 2, depth: 0 };
    for item in &items {
        let im = meta(item);
        m.size = m.size.saturating_add(im.size).saturating_add(2);
        m.depth = m.depth.max(im.depth);
    }
    m.depth += 1;
    check_container(items.len(), m.size, m.depth)?;
    Ok(Value::from_object(List { items, meta: m, lazy }))
}

/// Builds a checked, charged map; later keys win, like a MiniJinja map literal.
pub fn make_map(state: &State<'_, '_>, pairs: Vec<(Value, Value)>) -> Result<Value, Error> {
    check_container(pairs.len(), 0, 0)?;
    charge(state, CONTAINER_COST + pairs.len() * ENTRY_COST)?;
    let mut m = Meta { size: 2, depth: 0 };
    for (k, v) in &pairs {
        let (km, vm) = (meta(k), meta(v));
        m.size = m
            .size
            .saturating_add(km.size)
            .saturating_add(vm.size)
            .saturating_add(4);
        m.depth = m.depth.max(km.depth).max(vm.depth);
    }
    m.depth += 1;
    check_container(pairs.len(), m.size, m.depth)?;
    Ok(Value::from_object(Map {
        map: pairs.into_iter().collect(),
        meta: m,
    }))
}

/// Turns what a MiniJinja filter returned into our values: lists and maps become [`List`] and
/// [`Map`] (materialising lazy ones, item by item up to the limits), strings are checked.
fn normalize(state: &State<'_, '_>, v: Value, level: usize) -> Result<Value, Error> {
    if level > MAX_DEPTH {
        return Err(too_large(format!(
            "lists and maps nest more than {MAX_DEPTH} levels deep"
        )));
    }
    match v.kind() {
        ValueKind::String => {
            check_len(v.as_str().map(str::len))?;
            Ok(v)
        }
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map
            if v.downcast_object_ref::<List>().is_none()
                && v.downcast_object_ref::<Map>().is_none()
                && v.downcast_object_ref::<Range>().is_none()
                && v.downcast_object_ref::<Group>().is_none() =>
        {
            let is_map = v.kind() == ValueKind::Map;
            let mut items = vec![];
            let mut size = 0usize;
            for (i, item) in v.try_iter()?.enumerate() {
                if i >= MAX_ITEMS {
                    check_container(i + 1, 0, 0)?;
                }
                // A lazy sequence yields its errors as values.
                if item.kind() == ValueKind::Invalid {
                    return Err(Error::new(ErrorKind::InvalidOperation, item.to_string()));
                }
                let value = if is_map {
                    Some(normalize(state, v.get_item(&item)?, level + 1)?)
                } else {
                    None
                };
                let item = normalize(state, item, level + 1)?;
                // Stop a lazy sequence (`zip`, `chain`) as soon as it is too long.
                size = size
                    .saturating_add(meta(&item).size)
                    .saturating_add(value.as_ref().map_or(0, |v| meta(v).size));
                check_container(0, size, 0)?;
                items.push((item, value));
            }
            if is_map {
                make_map(
                    state,
                    items
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                )
            } else {
                let lazy = v.kind() == ValueKind::Iterable;
                build_list(state, items.into_iter().map(|(i, _)| i).collect(), lazy)
            }
        }
        _ => Ok(v),
    }
}

// ---------------------------------------------------------------------------------------------
// Operators (called by the rewritten template)

mod operators;

use operators::*;

// ---------------------------------------------------------------------------------------------
// Functions

/// `range(…)`: MiniJinja's semantics and limit, lazily.
fn range(lower: i64, upper: Option<i64>, step: Option<i64>) -> Result<Value, Error> {
    let (start, end) = match upper {
        Some(u) => (i128::from(lower), i128::from(u)),
        None => (0, i128::from(lower)),
    };
    let step = i128::from(step.unwrap_or(1));
    let len = match step {
        0 => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "cannot create range with step of 0",
            ));
        }
        s if s > 0 && end > start => (end - start + s - 1) / s,
        s if s < 0 && start > end => (start - end - s - 1) / -s,
        _ => 0,
    };
    if len > 100_000 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "range has too many elements",
        ));
    }
    let len = len as usize;
    let digits = start.abs().max(end.abs()).to_string().len() + 1;
    Ok(Value::from_object(Range {
        start: start as i64,
        step: step as i64,
        len,
        meta: Meta {
            size: 2 + len * (digits + 2),
            depth: 1,
        },
    }))
}

fn dict(state: &State<'_, '_>, args: Rest<Value>) -> Result<Value, Error> {
    let out = Value::from_function(minijinja::functions::dict).call(state, &args.0)?;
    normalize(state, out, 0)
}

fn unavailable(what: &'static str) -> impl Fn(Rest<Value>) -> Result<Value, Error> {
    move |_| {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{what} is not available in O-Neko templates"),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

mod precheck;

use precheck::precheck;

/// Filters that return one of their inputs or a number: nothing new to charge.
const SELECTORS: &[&str] = &[
    "first", "last", "default", "d", "attr", "min", "max", "length", "count", "sum", "round", "abs", "int",
    "float", "bool",
];

fn finish(state: &State<'_, '_>, name: &str, out: Value) -> Result<Value, Error> {
    if name == "groupby" {
        let mut groups = vec![];
        for g in items(&out)? {
            let grouper = normalize(state, g.get_item_by_index(0)?, 1)?;
            let list = normalize(state, g.get_attr("list")?, 1)?;
            let (gm, lm) = (meta(&grouper), meta(&list));
            groups.push(Value::from_object(Group {
                grouper,
                list,
                meta: Meta {
                    size: gm.size.saturating_add(lm.size).saturating_add(6),
                    depth: gm.depth.max(lm.depth) + 1,
                },
            }));
        }
        return make_list(state, groups);
    }
    // Selectors return values that already passed these checks.
    if SELECTORS.contains(&name) {
        return Ok(out);
    }
    if let Some(s) = out.as_str() {
        new_string(state, s)?;
    }
    normalize(state, out, 0)
}

fn install_filters(env: &mut Environment<'_>) {
    use minijinja::filters as f;
    let all: Vec<(&'static str, Value)> = vec![
        ("safe", Value::from_function(f::safe)),
        ("escape", Value::from_function(f::escape)),
        ("e", Value::from_function(f::escape)),
        ("lower", Value::from_function(f::lower)),
        ("upper", Value::from_function(f::upper)),
        ("title", Value::from_function(f::title)),
        ("capitalize", Value::from_function(f::capitalize)),
        ("replace", Value::from_function(f::replace)),
        ("length", Value::from_function(f::length)),
        ("count", Value::from_function(f::length)),
        ("dictsort", Value::from_function(f::dictsort)),
        ("items", Value::from_function(f::items)),
        ("reverse", Value::from_function(f::reverse)),
        ("trim", Value::from_function(f::trim)),
        ("join", Value::from_function(f::join)),
        ("split", Value::from_function(f::split)),
        ("lines", Value::from_function(f::lines)),
        ("default", Value::from_function(f::default)),
        ("d", Value::from_function(f::default)),
        ("round", Value::from_function(f::round)),
        ("abs", Value::from_function(f::abs)),
        ("int", Value::from_function(f::int)),
        ("float", Value::from_function(f::float)),
        ("attr", Value::from_function(f::attr)),
        ("first", Value::from_function(f::first)),
        ("last", Value::from_function(f::last)),
        ("min", Value::from_function(f::min)),
        ("max", Value::from_function(f::max)),
        ("sort", Value::from_function(f::sort)),
        ("list", Value::from_function(f::list)),
        ("string", Value::from_function(f::string)),
        ("bool", Value::from_function(f::bool)),
        ("batch", Value::from_function(f::batch)),
        ("slice", Value::from_function(f::slice)),
        ("sum", Value::from_function(f::sum)),
        ("indent", Value::from_function(f::indent)),
        ("select", Value::from_function(f::select)),
        ("reject", Value::from_function(f::reject)),
        ("selectattr", Value::from_function(f::selectattr)),
        ("rejectattr", Value::from_function(f::rejectattr)),
        ("map", Value::from_function(f::map)),
        ("groupby", Value::from_function(f::groupby)),
        ("unique", Value::from_function(f::unique)),
        ("chain", Value::from_function(f::chain)),
        ("zip", Value::from_function(f::zip)),
        ("pprint", Value::from_function(f::pprint)),
        ("format", Value::from_function(f::format)),
    ];
    for (name, original) in all {
        env.add_filter(name, move |state: &State<'_, '_>, args: Rest<Value>| {
            precheck(state, name, &args.0)?;
            let out = original.call(state, &args.0)?;
            finish(state, name, out)
        });
    }
}

fn install_tests(env: &mut Environment<'_>) {
    use minijinja::tests as t;
    env.add_test("undefined", t::is_undefined);
    env.add_test("defined", t::is_defined);
    env.add_test("none", t::is_none);
    env.add_test("safe", t::is_safe);
    env.add_test("escaped", t::is_safe);
    env.add_test("boolean", t::is_boolean);
    env.add_test("odd", t::is_odd);
    env.add_test("even", t::is_even);
    env.add_test("divisibleby", t::is_divisibleby);
    env.add_test("number", t::is_number);
    env.add_test("integer", t::is_integer);
    env.add_test("int", t::is_integer);
    env.add_test("float", t::is_float);
    env.add_test("string", t::is_string);
    env.add_test("sequence", t::is_sequence);
    env.add_test("iterable", t::is_iterable);
    env.add_test("mapping", t::is_mapping);
    env.add_test("startingwith", t::is_startingwith);
    env.add_test("endingwith", t::is_endingwith);
    env.add_test("lower", t::is_lower);
    env.add_test("upper", t::is_upper);
    env.add_test("sameas", t::is_sameas);
    for name in ["eq", "equalto", "=="] {
        env.add_test(name, t::is_eq);
    }
    for name in ["ne", "!="] {
        env.add_test(name, t::is_ne);
    }
    for name in ["lt", "lessthan", "<"] {
        env.add_test(name, t::is_lt);
    }
    for name in ["le", "<="] {
        env.add_test(name, t::is_le);
    }
    for name in ["gt", "greaterthan", ">"] {
        env.add_test(name, t::is_gt);
    }
    for name in ["ge", ">="] {
        env.add_test(name, t::is_ge);
    }
    env.add_test("in", t::is_in);
    env.add_test("true", t::is_true);
    env.add_test("false", t::is_false);
    env.add_test("filter", t::is_filter);
    env.add_test("test", t::is_test);
}

/// Installs O-Neko's bounded filters, tests and functions into an empty environment.
pub fn install(env: &mut Environment<'_>) {
    install_filters(env);
    install_tests(env);
    env.add_function("range", range);
    env.add_function("dict", dict);
    env.add_function("namespace", unavailable("namespace()"));
    env.add_function("debug", unavailable("debug()"));
    env.add_function("__oneko_cat", cat);
    env.add_function("__oneko_add", add);
    env.add_function("__oneko_mul", mul);
    env.add_function("__oneko_slice", slice);
    env.add_function("__oneko_list", list);
    env.add_function("__oneko_map", map);
}

/// A list of strings for the context (`URLS`).
pub fn string_list(items: &[String]) -> Value {
    let size = items.iter().map(|s| s.len() + 4).sum::<usize>() + 2;
    Value::from_object(List {
        items: items.iter().map(|s| Value::from(s.as_str())).collect(),
        meta: Meta { size, depth: 1 },
        lazy: false,
    })
}
