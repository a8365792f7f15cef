//! The parser: MiniJinja's expression and statement grammar, emitting the tag again with every
//! value-building operator as a call of a bounded function.

use std::fmt::Write as _;

use super::{MAX_EMITTED_NESTING, MAX_RECURSION, PREFIX, Refusal, Tok, Token, refuse};

/// An emitted expression: always atomic (a name, literal, call or parenthesised group), so it
/// can be an operand anywhere; `nest` is how deeply it nests calls and parentheses.
struct E {
    s: String,
    nest: usize,
}

pub(super) struct Parser<'t, 'a> {
    toks: &'t [Token<'a>],
    pos: usize,
    line: usize,
    depth: usize,
    /// What ends the tag, for messages.
    end: &'static str,
}

/// A token as MiniJinja's messages name it.
fn describe(tok: Option<Tok<'_>>, end: &str) -> String {
    match tok {
        None => end.to_owned(),
        Some(Tok::Ident(_)) => "identifier".into(),
        Some(Tok::Str(_)) => "string".into(),
        Some(Tok::Num(n)) if n.contains(['.', 'e', 'E']) && !n.starts_with("0x") => "float".into(),
        Some(Tok::Num(_)) => "integer".into(),
        Some(Tok::Op(o)) => format!("`{o}`"),
    }
}

fn call(name: &str, args: Vec<E>) -> E {
    let nest = args.iter().map(|a| a.nest).max().unwrap_or(0) + 1;
    let s = format!("{PREFIX}{name}({})", join(&args));
    E { s, nest }
}

fn join(args: &[E]) -> String {
    args.iter().map(|a| a.s.as_str()).collect::<Vec<_>>().join(", ")
}

/// `(a op b op c)`: a flat chain of one precedence level, re-parsed by MiniJinja the same way.
fn chain(first: E, rest: Vec<(&str, E)>) -> E {
    if rest.is_empty() {
        return first;
    }
    let mut nest = first.nest;
    let mut s = format!("({}", first.s);
    for (op, e) in rest {
        nest = nest.max(e.nest);
        let _ = write!(s, " {op} {}", e.s);
    }
    s.push(')');
    E { s, nest: nest + 1 }
}

impl<'t, 'a> Parser<'t, 'a> {
    /// A parser of one tag's tokens; `block` tells a statement tag from a variable tag.
    pub(super) fn new(toks: &'t [Token<'a>], line: usize, block: bool) -> Self {
        let end = if block {
            "end of block"
        } else {
            "end of variable block"
        };
        Self {
            toks,
            pos: 0,
            line,
            depth: 0,
            end,
        }
    }

    /// The tag's body rewritten.
    pub(super) fn tag(&mut self, block: bool) -> Result<String, Refusal> {
        if block { self.statement() } else { self.variable() }
    }

    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).map(|t| t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<Tok<'a>> {
        self.toks.get(self.pos + n).map(|t| t.tok)
    }

    fn here(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(self.line, |t| t.line)
    }

    fn unexpected<T>(&self, expected: &str) -> Result<T, Refusal> {
        refuse(
            self.here(),
            format!(
                "unexpected {}, expected {expected}",
                describe(self.peek(), self.end)
            ),
        )
    }

    fn eat(&mut self, tok: Tok<'_>) -> bool {
        let hit = self.peek() == Some(tok);
        self.pos += usize::from(hit);
        hit
    }

    fn expect(&mut self, tok: Tok<'_>) -> Result<(), Refusal> {
        if self.eat(tok) {
            Ok(())
        } else if let Tok::Ident(word) = tok {
            self.unexpected(word)
        } else {
            self.unexpected(&describe(Some(tok), self.end))
        }
    }

    fn end(&self) -> Result<(), Refusal> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.unexpected(self.end),
        }
    }

    fn name(&self, name: &'a str) -> Result<&'a str, Refusal> {
        if name.starts_with("__oneko") {
            return refuse(self.here(), format!("the name '{name}' is reserved"));
        }
        Ok(name)
    }

    fn ident(&mut self) -> Result<&'a str, Refusal> {
        match self.peek() {
            Some(Tok::Ident(n)) => {
                self.pos += 1;
                self.name(n)
            }
            _ => self.unexpected("identifier"),
        }
    }

    fn checked(&self, e: E) -> Result<E, Refusal> {
        if e.nest > MAX_EMITTED_NESTING {
            return refuse(
                self.here(),
                format!("expression nested too deeply (at most {MAX_EMITTED_NESTING} levels)"),
            );
        }
        Ok(e)
    }

    /// `{{ expr }}`
    fn variable(&mut self) -> Result<String, Refusal> {
        let e = self.expr()?;
        self.end()?;
        Ok(e.s)
    }

    /// `{% … %}`
    fn statement(&mut self) -> Result<String, Refusal> {
        let line = self.here();
        let Some(Tok::Ident(kw)) = self.peek() else {
            return self.unexpected("statement");
        };
        self.pos += 1;
        let unsupported = |what: &str| refuse(line, format!("{what} not supported in O-Neko templates"));
        let out = match kw {
            "for" => {
                let target = self.target(&[Tok::Ident("in")])?;
                self.expect(Tok::Ident("in"))?;
                let iter = self.or()?;
                let mut out = format!("for {target} in {}", iter.s);
                if self.eat(Tok::Ident("if")) {
                    let _ = write!(out, " if {}", self.expr()?.s);
                }
                if self.peek() == Some(Tok::Ident("recursive")) {
                    return unsupported("recursive loops are");
                }
                out
            }
            "if" | "elif" => format!("{kw} {}", self.or()?.s),
            "else" | "endif" | "endfor" | "endwith" | "endautoescape" => kw.to_owned(),
            "set" => {
                let target = self.target(&[Tok::Op("="), Tok::Op("|")])?;
                if !self.eat(Tok::Op("=")) {
                    return unsupported("{% set %} blocks are");
                }
                if target.contains('.') {
                    return unsupported("assigning to attributes (namespaces) is");
                }
                let first = self.expr()?;
                let value = if self.eat(Tok::Op(",")) {
                    let mut items = vec![first];
                    while self.peek().is_some() {
                        items.push(self.expr()?);
                        if !self.eat(Tok::Op(",")) {
                            break;
                        }
                    }
                    self.checked(call("list", items))?
                } else {
                    first
                };
                format!("set {target} = {}", value.s)
            }
            "with" => {
                let mut parts = vec![];
                while self.peek().is_some() {
                    if !parts.is_empty() {
                        self.expect(Tok::Op(","))?;
                    }
                    let target = self.target(&[Tok::Op("=")])?;
                    self.expect(Tok::Op("="))?;
                    parts.push(format!("{target} = {}", self.expr()?.s));
                }
                format!("with {}", parts.join(", "))
            }
            "autoescape" | "do" => format!("{kw} {}", self.expr()?.s),
            "macro" | "endmacro" | "call" | "endcall" => return unsupported("macros are"),
            "filter" | "endfilter" => return unsupported("{% filter %} blocks are"),
            "endset" => return unsupported("{% set %} blocks are"),
            "block" | "endblock" | "extends" | "include" | "import" | "from" => {
                return unsupported("template inheritance and includes are");
            }
            other => return refuse(line, format!("unknown statement {other}")),
        };
        self.end()?;
        Ok(out)
    }

    /// Assignment targets (names, commas, parentheses; dots for `set`) up to one of `stops`.
    fn target(&mut self, stops: &[Tok<'_>]) -> Result<String, Refusal> {
        let mut out = String::new();
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            if depth == 0 && stops.contains(&t) {
                break;
            }
            match t {
                Tok::Ident(n) => {
                    self.name(n)?;
                    if !out.is_empty() && !out.ends_with(['(', '.']) {
                        out.push(' ');
                    }
                    out.push_str(n);
                }
                Tok::Op(o @ ("(" | ")" | "," | ".")) => {
                    match o {
                        "(" => depth += 1,
                        ")" => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    out.push_str(o);
                }
                _ => return self.unexpected("identifier"),
            }
            self.pos += 1;
        }
        Ok(out)
    }

    fn guarded(&mut self, f: impl FnOnce(&mut Self) -> Result<E, Refusal>) -> Result<E, Refusal> {
        self.depth += 1;
        if self.depth > MAX_RECURSION {
            return refuse(self.here(), "expression nested too deeply");
        }
        let e = f(self)?;
        self.depth -= 1;
        self.checked(e)
    }

    fn expr(&mut self) -> Result<E, Refusal> {
        self.guarded(Self::ifexpr)
    }

    fn ifexpr(&mut self) -> Result<E, Refusal> {
        let mut e = self.or()?;
        while self.eat(Tok::Ident("if")) {
            let cond = self.or()?;
            let other = if self.eat(Tok::Ident("else")) {
                Some(self.guarded(Self::ifexpr)?)
            } else {
                None
            };
            let nest = e.nest.max(cond.nest).max(other.as_ref().map_or(0, |o| o.nest)) + 1;
            let s = match other {
                Some(o) => format!("({} if {} else {})", e.s, cond.s, o.s),
                None => format!("({} if {})", e.s, cond.s),
            };
            e = self.checked(E { s, nest })?;
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<E, Refusal> {
        let first = self.and()?;
        let mut rest = vec![];
        while self.eat(Tok::Ident("or")) {
            rest.push(("or", self.and()?));
        }
        self.checked(chain(first, rest))
    }

    fn and(&mut self) -> Result<E, Refusal> {
        let first = self.not()?;
        let mut rest = vec![];
        while self.eat(Tok::Ident("and")) {
            rest.push(("and", self.not()?));
        }
        self.checked(chain(first, rest))
    }

    fn not(&mut self) -> Result<E, Refusal> {
        if self.eat(Tok::Ident("not")) {
            let inner = self.guarded(Self::not)?;
            return self.checked(E {
                s: format!("(not {})", inner.s),
                nest: inner.nest + 1,
            });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<E, Refusal> {
        let first = self.math1()?;
        let mut rest = vec![];
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o @ ("==" | "!=" | "<" | "<=" | ">" | ">="))) => o,
                Some(Tok::Ident("in")) => "in",
                Some(Tok::Ident("not")) if self.peek_at(1) == Some(Tok::Ident("in")) => {
                    self.pos += 1;
                    "not in"
                }
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.math1()?));
        }
        self.checked(chain(first, rest))
    }

    /// `+` and `-`, left to right; a run of `+` becomes one `__oneko_add(a, b, c)` (folded left).
    fn math1(&mut self) -> Result<E, Refusal> {
        self.arith(Self::concat, "+", "add", &["-"])
    }

    /// A left-associative level whose operator `op` becomes the n-ary function `name` and whose
    /// `others` stay operators: `a op b op c other d` is `name(name(a, b, c) other d)`.
    fn arith(
        &mut self,
        operand: fn(&mut Self) -> Result<E, Refusal>,
        op: &str,
        name: &str,
        others: &[&str],
    ) -> Result<E, Refusal> {
        let mut left = operand(self)?;
        let mut pending: Vec<E> = vec![];
        let mut rest = vec![];
        loop {
            match self.peek() {
                Some(Tok::Op(o)) if o == op => {
                    self.pos += 1;
                    if pending.is_empty() {
                        pending.push(chain(left, std::mem::take(&mut rest)));
                        left = E {
                            s: String::new(),
                            nest: 0,
                        };
                    }
                    pending.push(operand(self)?);
                }
                Some(Tok::Op(o)) if others.contains(&o) => {
                    self.pos += 1;
                    if !pending.is_empty() {
                        left = self.checked(call(name, std::mem::take(&mut pending)))?;
                    }
                    rest.push((o, operand(self)?));
                }
                _ => break,
            }
        }
        if !pending.is_empty() {
            left = self.checked(call(name, pending))?;
        }
        self.checked(chain(left, rest))
    }

    /// `~` chains become one `__oneko_cat(a, b, c)`.
    fn concat(&mut self) -> Result<E, Refusal> {
        let first = self.math2()?;
        let mut items = vec![first];
        while self.eat(Tok::Op("~")) {
            items.push(self.math2()?);
        }
        if items.len() == 1 {
            return Ok(items.pop().expect("one item"));
        }
        self.checked(call("cat", items))
    }

    /// `*`, `/`, `//`, `%`, left to right; a run of `*` becomes one `__oneko_mul(a, b, c)`.
    fn math2(&mut self) -> Result<E, Refusal> {
        self.arith(Self::pow, "*", "mul", &["/", "//", "%"])
    }

    fn pow(&mut self) -> Result<E, Refusal> {
        let first = self.unary()?;
        let mut rest = vec![];
        while self.eat(Tok::Op("**")) {
            rest.push(("**", self.unary()?));
        }
        self.checked(chain(first, rest))
    }

    fn unary(&mut self) -> Result<E, Refusal> {
        let e = self.unary_only()?;
        let e = self.postfix(e)?;
        self.filters(e)
    }

    fn unary_only(&mut self) -> Result<E, Refusal> {
        if self.eat(Tok::Op("-")) {
            let inner = self.guarded(Self::unary_only)?;
            // `-f(x)` would negate `f` before calling it: MiniJinja binds `-` tighter than calls.
            return self.checked(E {
                s: format!("(-({}))", inner.s),
                nest: inner.nest + 2,
            });
        }
        self.guarded(Self::primary)
    }

    fn primary(&mut self) -> Result<E, Refusal> {
        let leaf = |s: &str| E {
            s: s.to_owned(),
            nest: 0,
        };
        let Some(tok) = self.peek() else {
            return self.unexpected("expression");
        };
        self.pos += 1;
        match tok {
            // MiniJinja reads a keyword here as a variable, which the rewrite could not keep.
            Tok::Ident(n @ ("not" | "and" | "or" | "if" | "else" | "in" | "is")) => {
                refuse(self.here(), format!("'{n}' cannot be used as a name"))
            }
            Tok::Ident(n) => Ok(leaf(self.name(n)?)),
            Tok::Num(n) => Ok(leaf(n)),
            Tok::Str(s) => {
                // Adjacent literals are one string, as in MiniJinja.
                let mut out = s.to_owned();
                while let Some(Tok::Str(more)) = self.peek() {
                    out.push(' ');
                    out.push_str(more);
                    self.pos += 1;
                }
                Ok(leaf(&out))
            }
            Tok::Op("(") => {
                if self.eat(Tok::Op(")")) {
                    return Ok(call("list", vec![]));
                }
                let first = self.expr()?;
                if self.peek() != Some(Tok::Op(",")) {
                    self.expect(Tok::Op(")"))?;
                    return Ok(first);
                }
                let mut items = vec![first];
                loop {
                    if self.eat(Tok::Op(")")) {
                        break;
                    }
                    self.expect(Tok::Op(","))?;
                    if self.eat(Tok::Op(")")) {
                        break;
                    }
                    items.push(self.expr()?);
                }
                self.checked(call("list", items))
            }
            Tok::Op("[") => {
                let mut items = vec![];
                loop {
                    if self.eat(Tok::Op("]")) {
                        break;
                    }
                    if !items.is_empty() {
                        self.expect(Tok::Op(","))?;
                        if self.eat(Tok::Op("]")) {
                            break;
                        }
                    }
                    items.push(self.expr()?);
                }
                self.checked(call("list", items))
            }
            Tok::Op("{") => {
                let mut items = vec![];
                loop {
                    if self.eat(Tok::Op("}")) {
                        break;
                    }
                    if !items.is_empty() {
                        self.expect(Tok::Op(","))?;
                        if self.eat(Tok::Op("}")) {
                            break;
                        }
                    }
                    items.push(self.expr()?);
                    self.expect(Tok::Op(":"))?;
                    items.push(self.expr()?);
                }
                self.checked(call("map", items))
            }
            _ => {
                self.pos -= 1;
                self.unexpected("expression")
            }
        }
    }

    fn postfix(&mut self, mut e: E) -> Result<E, Refusal> {
        loop {
            match self.peek() {
                Some(Tok::Op(".")) => {
                    self.pos += 1;
                    let attr = match self.peek() {
                        Some(Tok::Ident(n)) => self.name(n)?,
                        Some(Tok::Num(n)) => n,
                        _ => return self.unexpected("identifier or integer"),
                    };
                    self.pos += 1;
                    e.s = format!("{}.{attr}", e.s);
                }
                Some(Tok::Op("[")) => {
                    self.pos += 1;
                    let none = || E {
                        s: "none".into(),
                        nest: 0,
                    };
                    let start = if self.peek() == Some(Tok::Op(":")) {
                        None
                    } else {
                        Some(self.expr()?)
                    };
                    if self.eat(Tok::Op(":")) {
                        let stop = if matches!(self.peek(), Some(Tok::Op("]" | ":"))) {
                            None
                        } else {
                            Some(self.expr()?)
                        };
                        let step = if self.eat(Tok::Op(":")) && self.peek() != Some(Tok::Op("]")) {
                            Some(self.expr()?)
                        } else {
                            None
                        };
                        self.expect(Tok::Op("]"))?;
                        let args = vec![
                            e,
                            start.unwrap_or_else(none),
                            stop.unwrap_or_else(none),
                            step.unwrap_or_else(none),
                        ];
                        e = self.checked(call("slice", args))?;
                    } else {
                        self.expect(Tok::Op("]"))?;
                        let Some(index) = start else {
                            return refuse(self.here(), "empty subscript");
                        };
                        e = self.checked(E {
                            s: format!("{}[{}]", e.s, index.s),
                            nest: e.nest.max(index.nest + 1),
                        })?;
                    }
                }
                Some(Tok::Op("(")) => {
                    // MiniJinja's `loop.cycle()` divides by its argument count.
                    if e.s.ends_with(".cycle") && self.peek_at(1) == Some(Tok::Op(")")) {
                        return refuse(self.here(), "cycle() needs at least one argument");
                    }
                    let (args, nest) = self.args()?;
                    e = self.checked(E {
                        s: format!("{}{args}", e.s),
                        nest: e.nest.max(nest),
                    })?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// `(a, b, key=c)`; unpacking (`*a`, `**b`) is refused: it pushes every item at once.
    fn args(&mut self) -> Result<(String, usize), Refusal> {
        self.expect(Tok::Op("("))?;
        let mut parts: Vec<String> = vec![];
        let mut nest = 0;
        loop {
            if self.eat(Tok::Op(")")) {
                break;
            }
            if !parts.is_empty() {
                self.expect(Tok::Op(","))?;
                if self.eat(Tok::Op(")")) {
                    break;
                }
            }
            if matches!(self.peek(), Some(Tok::Op("*" | "**"))) {
                return refuse(
                    self.here(),
                    "argument unpacking (*args, **kwargs) is not supported in O-Neko templates",
                );
            }
            let kwarg = match (self.peek(), self.peek_at(1)) {
                (Some(Tok::Ident(n)), Some(Tok::Op("="))) => {
                    self.pos += 2;
                    Some(self.name(n)?)
                }
                _ => None,
            };
            let e = self.expr()?;
            nest = nest.max(e.nest + 1);
            parts.push(match kwarg {
                Some(k) => format!("{k}={}", e.s),
                None => e.s,
            });
        }
        Ok((format!("({})", parts.join(", ")), nest))
    }

    /// A dotted filter or test name.
    fn dotted(&mut self) -> Result<String, Refusal> {
        let mut name = self.ident()?.to_owned();
        while self.peek() == Some(Tok::Op(".")) && matches!(self.peek_at(1), Some(Tok::Ident(_))) {
            self.pos += 1;
            name.push('.');
            name.push_str(self.ident()?);
        }
        Ok(name)
    }

    /// `|filter(args)` and `is [not] test(args)`, emitted flat and parenthesised once.
    fn filters(&mut self, e: E) -> Result<E, Refusal> {
        let mut s = e.s;
        let mut nest = e.nest;
        let mut any = false;
        loop {
            match self.peek() {
                Some(Tok::Op("|")) => {
                    self.pos += 1;
                    let name = self.dotted()?;
                    let _ = write!(s, "|{name}");
                    if self.peek() == Some(Tok::Op("(")) {
                        let (args, n) = self.args()?;
                        nest = nest.max(n);
                        s.push_str(&args);
                    }
                }
                Some(Tok::Ident("is")) => {
                    self.pos += 1;
                    let negated = self.eat(Tok::Ident("not"));
                    let name = self.dotted()?;
                    let _ = write!(s, " is {}{name}", if negated { "not " } else { "" });
                    let single = match self.peek() {
                        Some(Tok::Ident("and" | "or" | "else" | "is")) => false,
                        Some(Tok::Ident(_) | Tok::Str(_) | Tok::Num(_) | Tok::Op("-" | "+" | "[" | "{")) => {
                            true
                        }
                        _ => false,
                    };
                    if self.peek() == Some(Tok::Op("(")) {
                        let (args, n) = self.args()?;
                        nest = nest.max(n);
                        s.push_str(&args);
                    } else if single {
                        let arg = self.unary_only()?;
                        let arg = self.postfix(arg)?;
                        nest = nest.max(arg.nest + 1);
                        let _ = write!(s, "({})", arg.s);
                    }
                }
                _ => break,
            }
            any = true;
        }
        if !any {
            return Ok(E { s, nest });
        }
        self.checked(E {
            s: format!("({s})"),
            nest: nest + 1,
        })
    }
}
