//! Rewrites a template before MiniJinja compiles it, so that nothing in it can allocate without
//! bound. MiniJinja's fuel counts instructions, not bytes, and its operators cannot be hooked:
//! `{% set a = a ~ a %}` doubles a string per instruction. So the template is parsed here (a
//! mirror of MiniJinja's own lexer and expression grammar) and written out again with every
//! operator and literal that builds a value from others (`~`, `+`, `*`, slices, list, tuple and
//! map literals) turned into a call of a bounded function from `limits` (`__oneko_cat(a, b)`).
//! Template text, comments and raw blocks are copied unchanged, and every tag keeps its line,
//! so errors point at the user's line.
//!
//! What could still grow without bound is refused with a clear message: macros and `call`
//! blocks, `{% filter %}` and `{% set %}…{% endset %}` blocks (they capture output outside the
//! output limit), recursive loops, namespaces, `include`/`import`/`extends` (there is no loader
//! anyway), `*args`/`**kwargs` unpacking and names starting with `__oneko`. Nesting is limited
//! before MiniJinja's recursive parser sees the source.
//!
//! The original source is never compiled by MiniJinja (its constant folding would evaluate
//! `'x' * 100000000` at compile time); syntax errors found here are worded like MiniJinja's, and
//! MiniJinja checks the rest on the rewritten source.

use std::fmt::Write as _;

/// Names of the bounded functions; templates may not use this prefix themselves.
pub const PREFIX: &str = "__oneko_";
/// Deepest bracket nesting inside one tag, and deepest block nesting (`for`, `if`, `elif`, …).
const MAX_NESTING: usize = 30;
/// Most operators in one tag (MiniJinja compiles an operator chain recursively).
const MAX_OPERATORS: usize = 500;
/// Deepest nesting of the rewritten expression: MiniJinja refuses more than 150 recursion
/// levels and spends about two per level.
const MAX_EMITTED_NESTING: usize = 60;
/// Deepest recursion of the parser here (MiniJinja's limit).
const MAX_RECURSION: usize = 150;

/// Why a template cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub message: String,
}

fn refuse<T>(line: usize, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        line,
        message: message.into(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    /// A string literal with its quotes, exactly as written.
    Str(&'a str),
    /// A number, exactly as written.
    Num(&'a str),
    /// An operator or bracket.
    Op(&'a str),
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    line: usize,
}

enum Piece<'a> {
    /// Template text, a comment or a raw block: copied unchanged.
    Verbatim(&'a str),
    Tag {
        block: bool,
        open: &'a str,
        close: &'a str,
        tokens: Vec<Token<'a>>,
        line: usize,
        newlines: usize,
    },
}

/// Checks the source and returns it rewritten. Syntax errors found here read like MiniJinja's;
/// MiniJinja checks the rest (block structure, assignments) when it compiles the result.
///
/// The original is never given to MiniJinja: its compiler folds constant expressions, so
/// compiling `{{ 'x' * 100000000 }}` alone allocates 100 MB. In the rewritten source every
/// operator that could build a large constant is a function call, which is not folded.
pub fn prepare(source: &str) -> Result<String, Refusal> {
    let (pieces, lex_error) = lex(source)?;
    check_nesting(&pieces)?;
    if let Some(e) = lex_error {
        return Err(e);
    }
    let mut out = String::with_capacity(source.len() + source.len() / 4);
    for piece in &pieces {
        match piece {
            Piece::Verbatim(text) => out.push_str(text),
            Piece::Tag {
                block,
                open,
                close,
                tokens,
                line,
                newlines,
            } => {
                let mut p = Parser {
                    toks: tokens,
                    pos: 0,
                    line: *line,
                    depth: 0,
                    end: if *block {
                        "end of block"
                    } else {
                        "end of variable block"
                    },
                };
                let body = if *block { p.statement()? } else { p.variable()? };
                let _ = write!(out, "{open} {body}{} {close}", "\n".repeat(*newlines));
            }
        }
    }
    Ok(out)
}

/// [`prepare`], then MiniJinja's own checks on the result, without rendering.
pub fn check(source: &str) -> Result<(), Refusal> {
    let rewritten = prepare(source)?;
    let mut env = minijinja::Environment::empty();
    env.set_keep_trailing_newline(true);
    env.template_from_str(&rewritten).map(drop).map_err(|e| Refusal {
        line: e.line().unwrap_or(1),
        message: e.detail().map_or_else(|| e.kind().to_string(), str::to_owned),
    })
}

// ---------------------------------------------------------------------------------------------
// Lexer: MiniJinja's, for the default syntax (`{{ }}`, `{% %}`, `{# #}`), ASCII identifiers.

/// The pieces, and the lexical error that ended lexing early (limits are refused at once).
fn lex(source: &str) -> Result<(Vec<Piece<'_>>, Option<Refusal>), Refusal> {
    let bytes = source.as_bytes();
    let mut pieces = vec![];
    let mut pos = 0;
    let mut line = 1;
    let newlines = |s: &str| s.bytes().filter(|&b| b == b'\n').count();
    while pos < bytes.len() {
        let Some((start, marker)) = find_marker(&bytes[pos..]).map(|(i, m)| (pos + i, m)) else {
            pieces.push(Piece::Verbatim(&source[pos..]));
            break;
        };
        if start > pos {
            pieces.push(Piece::Verbatim(&source[pos..start]));
            line += newlines(&source[pos..start]);
        }
        let ws = usize::from(matches!(bytes.get(start + 2), Some(b'-' | b'+')));
        let skip = 2 + ws;
        match marker {
            b'#' => {
                let Some(end) = find(&bytes[start + skip..], b"#}") else {
                    return Ok((pieces, refuse::<()>(line, "unexpected end of comment").err()));
                };
                let end = start + skip + end + 2;
                pieces.push(Piece::Verbatim(&source[start..end]));
                line += newlines(&source[start..end]);
                pos = end;
            }
            b'%' if basic_tag(&source[start + skip..], "raw", false).is_some() => {
                let mut ptr = start + skip;
                let end = loop {
                    let Some(open) = find(&bytes[ptr..], b"{%") else {
                        return Ok((pieces, refuse::<()>(line, "unexpected end of raw block").err()));
                    };
                    ptr += open + 2;
                    if let Some(len) = basic_tag(&source[ptr..], "endraw", true) {
                        break ptr + len;
                    }
                };
                pieces.push(Piece::Verbatim(&source[start..end]));
                line += newlines(&source[start..end]);
                pos = end;
            }
            _ => {
                let block = marker == b'%';
                let end_marker = if block { "%}" } else { "}}" };
                let open = &source[start..start + skip];
                let tag_line = line;
                let (tokens, close_at, close_len, tag_newlines) =
                    match lex_tag(source, start + skip, end_marker, &mut line)? {
                        Ok(tag) => tag,
                        Err(lexical) => return Ok((pieces, Some(lexical))),
                    };
                pieces.push(Piece::Tag {
                    block,
                    open,
                    close: &source[close_at..close_at + close_len],
                    tokens,
                    line: tag_line,
                    newlines: tag_newlines,
                });
                pos = close_at + close_len;
            }
        }
    }
    Ok((pieces, None))
}

/// The next `{{`, `{%` or `{#`.
fn find_marker(bytes: &[u8]) -> Option<(usize, u8)> {
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'{') {
        let at = i + off;
        match bytes.get(at + 1) {
            Some(m @ (b'{' | b'%' | b'#')) => return Some((at, *m)),
            _ => i = at + 1,
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// MiniJinja's `skip_basic_tag`: `[-+]? ws* name ws* [-+]? %}`; the length up to and with `%}`.
fn basic_tag(s: &str, name: &str, skip_ws_control: bool) -> Option<usize> {
    let mut p = s;
    if skip_ws_control {
        p = p.strip_prefix(['-', '+']).unwrap_or(p);
    }
    p = p.trim_start_matches(|c: char| c.is_ascii_whitespace());
    p = p.strip_prefix(name)?;
    p = p.trim_start_matches(|c: char| c.is_ascii_whitespace());
    p = p.strip_prefix(['-', '+']).unwrap_or(p);
    p = p.strip_prefix("%}")?;
    Some(s.len() - p.len())
}

type TagLex<'a> = (Vec<Token<'a>>, usize, usize, usize);

/// Tokens of one tag from `pos` to its end marker (found only outside brackets, like MiniJinja).
/// The outer error is a limit, the inner one a lexical error.
fn lex_tag<'a>(
    source: &'a str,
    mut pos: usize,
    end: &str,
    line: &mut usize,
) -> Result<Result<TagLex<'a>, Refusal>, Refusal> {
    let bytes = source.as_bytes();
    let mut tokens = vec![];
    let mut balance: isize = 0;
    let mut newlines = 0;
    let (mut operators, mut unary_run) = (0usize, 0usize);
    loop {
        while let Some(&b) = bytes.get(pos) {
            if !b.is_ascii_whitespace() {
                break;
            }
            if b == b'\n' {
                *line += 1;
                newlines += 1;
            }
            pos += 1;
        }
        let rest = &source[pos..];
        if rest.is_empty() {
            // Where MiniJinja reports it: at the last token of the tag.
            let at = tokens.last().map_or(*line, |t: &Token<'_>| t.line);
            let what = if end == "%}" {
                "end of block"
            } else {
                "end of variable block"
            };
            return Ok(refuse(at, format!("unexpected end of input, expected {what}")));
        }
        if balance == 0 {
            if rest.starts_with(['-', '+']) && rest[1..].starts_with(end) {
                return Ok(Ok((tokens, pos, 1 + end.len(), newlines)));
            }
            if rest.starts_with(end) {
                return Ok(Ok((tokens, pos, end.len(), newlines)));
            }
        }
        let two = rest
            .get(..2)
            .filter(|t| matches!(*t, "//" | "**" | "==" | "!=" | ">=" | "<="));
        let (tok, len) = if let Some(op) = two {
            (Tok::Op(op), 2)
        } else {
            let c = bytes[pos];
            match c {
                b'+' | b'-' | b'*' | b'/' | b'%' | b'.' | b',' | b':' | b'~' | b'|' | b'=' | b'>' | b'<'
                | b'(' | b')' | b'[' | b']' | b'{' | b'}' => {
                    match c {
                        b'(' | b'[' | b'{' => balance += 1,
                        b')' | b']' | b'}' => balance -= 1,
                        _ => {}
                    }
                    (Tok::Op(&rest[..1]), 1)
                }
                b'\'' | b'"' => match string_len(rest.as_bytes(), c) {
                    Some(len) => (Tok::Str(&rest[..len]), len),
                    None => return Ok(refuse(*line, "unexpected end of string")),
                },
                b'0'..=b'9' => {
                    let len = number_len(rest.as_bytes());
                    (Tok::Num(&rest[..len]), len)
                }
                _ => {
                    let len = rest
                        .bytes()
                        .enumerate()
                        .take_while(|&(i, c)| {
                            c == b'_'
                                || if i == 0 {
                                    c.is_ascii_alphabetic()
                                } else {
                                    c.is_ascii_alphanumeric()
                                }
                        })
                        .count();
                    if len == 0 {
                        return Ok(refuse(*line, "unexpected character"));
                    }
                    (Tok::Ident(&rest[..len]), len)
                }
            }
        };
        if usize::try_from(balance).is_ok_and(|b| b > MAX_NESTING) {
            return refuse(
                *line,
                format!("expression nested too deeply (at most {MAX_NESTING} levels)"),
            );
        }
        let is_operator = matches!(tok, Tok::Op(o) if !matches!(o, "(" | ")" | "[" | "]" | "{" | "}" | "," | ":" | "="))
            || matches!(tok, Tok::Ident("and" | "or" | "not" | "is" | "in" | "if"));
        operators += usize::from(is_operator);
        unary_run = if matches!(tok, Tok::Op("-" | "+") | Tok::Ident("not")) {
            unary_run + 1
        } else {
            0
        };
        if operators > MAX_OPERATORS || unary_run > MAX_NESTING {
            return refuse(
                *line,
                format!("expression too long (at most {MAX_OPERATORS} operators)"),
            );
        }
        tokens.push(Token { tok, line: *line });
        let inner = rest[..len].bytes().filter(|&b| b == b'\n').count();
        *line += inner;
        newlines += inner;
        pos += len;
    }
}

/// Length of a string literal with its quotes (backslash escapes, any characters inside).
fn string_len(s: &[u8], delim: u8) -> Option<usize> {
    let mut escaped = false;
    for (i, &c) in s.iter().enumerate().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (_, b'\\') => escaped = true,
            (_, c) if c == delim => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Length of a number literal, following MiniJinja's lexer (radix prefixes, `_`, fraction, exponent).
fn number_len(s: &[u8]) -> usize {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Radix,
        Int,
        Frac,
        Exp,
        ExpSign,
    }
    let radix = match s.get(..2) {
        Some(b"0b" | b"0B") => 2,
        Some(b"0o" | b"0O") => 8,
        Some(b"0x" | b"0X") => 16,
        _ => 10,
    };
    let (start, mut st) = if radix == 10 { (0, St::Int) } else { (2, St::Radix) };
    let s = &s[start..];
    let mut len = s.iter().take_while(|c| c.is_ascii_digit()).count();
    for &c in &s[len..] {
        st = match (c, st) {
            (b'.', St::Int) => {
                let is_exp = matches!(s.get(len + 1), Some(b'e' | b'E'))
                    && matches!(s.get(len + 2), Some(b'+' | b'-' | b'0'..=b'9'));
                let ident_follows = s
                    .get(len + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
                if !is_exp && ident_follows {
                    break;
                }
                St::Frac
            }
            (b'E' | b'e', St::Int | St::Frac) => St::Exp,
            (b'+' | b'-', St::Exp) => St::ExpSign,
            (b'0'..=b'9', St::Exp) => St::ExpSign,
            (b'0'..=b'9', st) => st,
            (b'a'..=b'f' | b'A'..=b'F', St::Radix) if radix == 16 => st,
            (b'_', st) => st,
            _ => break,
        };
        len += 1;
    }
    start + len
}

/// Refuses block nesting deeper than MiniJinja's recursive parser should see.
fn check_nesting(pieces: &[Piece<'_>]) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut elifs: Vec<usize> = vec![];
    for piece in pieces {
        let Piece::Tag {
            block: true,
            tokens,
            line,
            ..
        } = piece
        else {
            continue;
        };
        let Some(Tok::Ident(kw)) = tokens.first().map(|t| t.tok) else {
            continue;
        };
        let opens = match kw {
            "for" | "if" | "with" | "autoescape" | "filter" | "macro" | "call" | "block" => true,
            // `{% set x %}` (no `=`) opens a block.
            "set" => !tokens.iter().any(|t| t.tok == Tok::Op("=")),
            _ => false,
        };
        if opens {
            depth += 1;
            elifs.push(0);
        } else if kw == "elif" {
            // MiniJinja parses each `elif` as an `if` nested in the previous one.
            depth += 1;
            if let Some(n) = elifs.last_mut() {
                *n += 1;
            }
        } else if kw.starts_with("end") {
            depth = depth.saturating_sub(1 + elifs.pop().unwrap_or(0));
        }
        if depth > MAX_NESTING {
            return refuse(
                *line,
                format!("blocks nested too deeply (at most {MAX_NESTING} levels, counting each elif)"),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parser: MiniJinja's grammar, emitting source again.

/// An emitted expression: always atomic (a name, literal, call or parenthesised group), so it
/// can be an operand anywhere; `nest` is how deeply it nests calls and parentheses.
struct E {
    s: String,
    nest: usize,
}

struct Parser<'t, 'a> {
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

impl<'a> Parser<'_, 'a> {
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
