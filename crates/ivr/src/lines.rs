//! The block structure of a dialplan: lines, indentation and comments, plus a cursor
//! over one line that keeps track of columns.
//!
//! Written by hand rather than with a parser generator so that every error points at a
//! line and column with a hint that speaks the operator's language.

use crate::diag::{Reporter, Span};

/// One meaningful line with the lines indented under it.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub(crate) no: u32,
    /// 1-based column where `text` starts.
    pub(crate) col: u32,
    /// The line without its indentation, comment and trailing blanks.
    pub(crate) text: &'a str,
    /// The line without its indentation and trailing blanks, comments kept.
    pub(crate) raw: &'a str,
    /// Lines indented under this one.
    pub(crate) children: Vec<Line<'a>>,
}

impl<'a> Line<'a> {
    pub(crate) fn scan(&self) -> Scan<'a> {
        Scan {
            text: self.text,
            pos: 0,
            line: self.no,
            col0: self.col,
        }
    }

    pub(crate) fn span(&self) -> Span {
        Span::new(self.no, self.col, self.text.chars().count() as u32)
    }
}

/// Strips a comment: `#` starts one at the start of a line or after a blank, outside quotes.
fn strip_comment(s: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    let mut prev_blank = true;
    for (i, c) in s.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '#' && prev_blank {
            return &s[..i];
        }
        prev_blank = c == ' ' || c == '\t';
    }
    s
}

/// Splits a source into a tree of lines by indentation.
pub(crate) fn build<'a>(source: &'a str, rep: &mut Reporter<'_>) -> Vec<Line<'a>> {
    // Stack of (indent, line) under construction; index 0 is a virtual root.
    let mut stack: Vec<(i64, Line<'a>)> = vec![(
        -1,
        Line {
            no: 0,
            col: 1,
            text: "",
            raw: "",
            children: Vec::new(),
        },
    )];
    for (idx, full) in source.lines().enumerate() {
        let no = idx as u32 + 1;
        let body = full.trim_start_matches([' ', '\t']);
        let lead = &full[..full.len() - body.len()];
        let text = strip_comment(body).trim_end();
        if text.is_empty() {
            continue;
        }
        if let Some(tab) = lead.find('\t') {
            rep.error(
                Span::new(no, tab as u32 + 1, 1),
                "a tab in the indentation",
                Some("indent with spaces only (two per level is usual)".into()),
            );
            continue;
        }
        let indent = lead.len() as i64;
        while stack.len() > 1 && indent <= stack.last().map_or(-1, |s| s.0) {
            let (_, done) = stack.pop().expect("stack has more than the root");
            stack.last_mut().expect("root stays").1.children.push(done);
        }
        // The new line is a child of the top of the stack. Its siblings must share its indent.
        let parent = &stack.last().expect("root stays").1;
        if let Some(sib) = parent.children.last() {
            let sib_indent = i64::from(sib.col) - 1;
            if sib_indent != indent {
                rep.error(
                    Span::new(no, 1, indent.max(1) as u32),
                    "this indentation matches no outer block",
                    Some(format!(
                        "line {} is indented by {} spaces; lines of one block line up",
                        sib.no, sib_indent
                    )),
                );
            }
        } else if stack.len() == 1 && indent > 0 {
            rep.error(
                Span::new(no, 1, indent as u32),
                "unexpected indentation at the top of the file",
                Some("top-level lines (`step`, `entry`, `hours`, ...) start in column 1".into()),
            );
        }
        let raw = body.trim_end();
        stack.push((
            indent,
            Line {
                no,
                col: indent as u32 + 1,
                text,
                raw,
                children: Vec::new(),
            },
        ));
    }
    while stack.len() > 1 {
        let (_, done) = stack.pop().expect("stack has more than the root");
        stack.last_mut().expect("root stays").1.children.push(done);
    }
    stack.pop().expect("root stays").1.children
}

/// A cursor over one line's text.
#[derive(Debug, Clone)]
pub(crate) struct Scan<'a> {
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
    pub(crate) line: u32,
    pub(crate) col0: u32,
}

impl<'a> Scan<'a> {
    /// A scanner over a piece of a line that starts at `span`.
    pub(crate) fn sub(text: &'a str, line: u32, col0: u32) -> Self {
        Scan {
            text,
            pos: 0,
            line,
            col0,
        }
    }

    fn col_at(&self, pos: usize) -> u32 {
        self.col0 + self.text[..pos].chars().count() as u32
    }

    pub(crate) fn span_from(&self, start: usize) -> Span {
        let len = self.text[start..self.pos].chars().count().max(1) as u32;
        Span::new(self.line, self.col_at(start), len)
    }

    /// Span of the next character (or just past the end).
    pub(crate) fn here(&self) -> Span {
        Span::new(self.line, self.col_at(self.pos), 1)
    }

    /// Span of everything left on the line.
    pub(crate) fn rest_span(&self) -> Span {
        let len = self.text[self.pos..].chars().count().max(1) as u32;
        Span::new(self.line, self.col_at(self.pos), len)
    }

    pub(crate) fn ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.text.len()
    }

    pub(crate) fn peek(&mut self) -> Option<char> {
        self.ws();
        self.text[self.pos..].chars().next()
    }

    pub(crate) fn rest(&mut self) -> &'a str {
        self.ws();
        &self.text[self.pos..]
    }

    /// Consumes `c` if it comes next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes `s` (punctuation such as `==`) if it comes next.
    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        self.ws();
        if self.text[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `kw` if the next word is exactly it.
    pub(crate) fn eat_word(&mut self, kw: &str) -> bool {
        let save = self.pos;
        match self.ident() {
            Some((w, _)) if w == kw => true,
            _ => {
                self.pos = save;
                false
            }
        }
    }

    /// Looks at the next identifier without consuming it.
    pub(crate) fn peek_ident(&mut self) -> Option<&'a str> {
        let save = self.pos;
        let w = self.ident().map(|(w, _)| w);
        self.pos = save;
        w
    }

    /// An identifier: a letter or `_`, then letters, digits and `_`.
    pub(crate) fn ident(&mut self) -> Option<(&'a str, Span)> {
        self.ws();
        let start = self.pos;
        let mut chars = self.text[start..].char_indices();
        match chars.next() {
            Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
            _ => return None,
        }
        let mut end = self.text.len();
        for (i, c) in chars {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                end = start + i;
                break;
            }
        }
        self.pos = end;
        Some((&self.text[start..end], self.span_from(start)))
    }

    /// A bare token: everything up to a blank, a comma, or a `:` that ends a header
    /// (one followed by a blank or the end of the line).
    pub(crate) fn bare(&mut self) -> Option<(&'a str, Span)> {
        self.ws();
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = start;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b' ' || b == b'\t' || b == b',' {
                break;
            }
            if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
                break;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        // Stay on a char boundary: the loop only stops at ASCII bytes or the end.
        self.pos = i;
        Some((&self.text[start..i], self.span_from(start)))
    }

    /// A double-quoted string with `\"`, `\\`, `\n` and `\t` escapes. `Ok(None)` when the
    /// next thing is not a string.
    pub(crate) fn string(&mut self) -> Result<Option<(String, Span)>, (Span, String)> {
        self.ws();
        if !self.text[self.pos..].starts_with('"') {
            return Ok(None);
        }
        let start = self.pos;
        let mut out = String::new();
        let mut it = self.text[start + 1..].char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos = start + 1 + i + 1;
                    return Ok(Some((out, self.span_from(start))));
                }
                '\\' => match it.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c @ ('"' | '\\' | '$'))) => {
                        if c == '$' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    Some((j, other)) => {
                        let at = start + 1 + j;
                        let span = Span::new(self.line, self.col_at(at), 1);
                        return Err((span, format!("unknown escape `\\{other}` in a string")));
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.pos = self.text.len();
        Err((
            self.span_from(start),
            "this string has no closing `\"`".into(),
        ))
    }

    /// An unsigned integer.
    pub(crate) fn number(&mut self) -> Option<(i64, Span)> {
        self.ws();
        let start = self.pos;
        let digits = self.text[start..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        self.pos = start + digits;
        let n = self.text[start..self.pos].parse().ok()?;
        Some((n, self.span_from(start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_and_strips_comments() {
        let src = "# top comment\nstep a:   # trailing\n  play x\n  if y:\n    goto b\n\nstep b:\n  hangup\n";
        let mut rep = Reporter::new("t", src);
        let tree = build(src, &mut rep);
        assert!(rep.found.is_empty(), "{:?}", rep.found);
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].text, "step a:");
        assert_eq!(tree[0].children.len(), 2);
        assert_eq!(tree[0].children[1].children[0].text, "goto b");
        assert_eq!(tree[0].children[1].children[0].col, 5);
    }

    #[test]
    fn hash_inside_quotes_is_not_a_comment() {
        assert_eq!(
            strip_comment(r##"terminator "#" # end"##),
            r##"terminator "#" "##
        );
        assert_eq!(strip_comment("a#b"), "a#b");
    }

    #[test]
    fn tabs_and_ragged_indents_are_errors() {
        let src = "step a:\n\tplay x\n";
        let mut rep = Reporter::new("t", src);
        build(src, &mut rep);
        assert_eq!(rep.found[0].span.line, 2);
        let src = "step a:\n    play x\n  play y\n";
        let mut rep = Reporter::new("t", src);
        build(src, &mut rep);
        assert_eq!(rep.found[0].span.line, 3);
        assert!(rep.found[0].message.contains("indentation"));
    }

    #[test]
    fn scanner_tokens() {
        let mut s = Scan::sub(r#"mon-fri 09:00-18:00, "a\"b": rest"#, 1, 1);
        assert_eq!(s.bare().unwrap().0, "mon-fri");
        assert_eq!(s.bare().unwrap().0, "09:00-18:00");
        assert!(s.eat(','));
        assert_eq!(s.string().unwrap().unwrap().0, "a\"b");
        assert!(s.eat(':'));
        assert_eq!(s.rest(), "rest");
    }
}
