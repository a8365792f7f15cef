//! The lexer: MiniJinja's, for the default syntax (`{{ }}`, `{% %}`, `{# #}`), ASCII
//! identifiers. Splits the source into verbatim text and tags of tokens, refusing limits at once.

use super::{MAX_NESTING, MAX_OPERATORS, Piece, Refusal, Tok, Token, refuse};

/// The pieces, and the lexical error that ended lexing early (limits are refused at once).
pub(super) fn lex(source: &str) -> Result<(Vec<Piece<'_>>, Option<Refusal>), Refusal> {
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
pub(super) fn check_nesting(pieces: &[Piece<'_>]) -> Result<(), Refusal> {
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
