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

mod lexer;
mod parser;

use lexer::{check_nesting, lex};
use parser::Parser;

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
                let body = Parser::new(tokens, *line, *block).tag(*block)?;
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
