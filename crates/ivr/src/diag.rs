//! Diagnostics: errors and warnings with a file, line and column, the line itself with a
//! caret under the fault, and a hint at the fix.

use std::fmt;
use std::sync::Arc;

/// A position in a dialplan source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column of the first character.
    pub col: u32,
    /// Number of characters underlined (at least 1 when rendered).
    pub len: u32,
}

impl Span {
    pub(crate) fn new(line: u32, col: u32, len: u32) -> Self {
        Span { line, col, len }
    }
}

/// How bad a diagnostic is: errors stop a dialplan from loading, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The dialplan is refused.
    Error,
    /// The dialplan loads, but something is probably wrong.
    Warning,
}

/// One finding of the parser or the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file name as given to the parser.
    pub file: Arc<str>,
    /// Where in the file.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
    /// The source line the span points into (without its line break).
    pub source_line: String,
}

impl Diagnostic {
    /// `file:line:col`, the form editors and CI logs understand.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.span.line, self.span.col)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{kind}: {}", self.message)?;
        let num = self.span.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{pad}--> {}", self.location())?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        let col = self.span.col.max(1) as usize;
        let len = self.span.len.max(1) as usize;
        write!(f, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(len))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{pad} = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every finding for one file; `Display` prints them one after another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Findings that stop the dialplan from loading.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    /// Findings that do not.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    /// True when at least one finding is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects findings while parsing and checking one file.
pub(crate) struct Reporter<'a> {
    file: Arc<str>,
    lines: Vec<&'a str>,
    pub(crate) found: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &str, source: &'a str) -> Self {
        Reporter {
            file: Arc::from(file),
            lines: source.lines().collect(),
            found: Vec::new(),
        }
    }

    pub(crate) fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn push(&mut self, severity: Severity, span: Span, message: String, hint: Option<String>) {
        let source_line = self
            .lines
            .get((span.line as usize).wrapping_sub(1))
            .map(|l| l.replace('\t', " "))
            .unwrap_or_default();
        self.found.push(Diagnostic {
            severity,
            file: self.file.clone(),
            span,
            message,
            hint,
            source_line,
        });
    }

    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Error, span, message.into(), hint);
    }

    pub(crate) fn warn(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Warning, span, message.into(), hint);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.found.iter().any(|d| d.severity == Severity::Error)
    }
}

/// The closest name to `wanted` among `known`, for "did you mean" hints.
pub(crate) fn closest<'k>(
    wanted: &str,
    known: impl IntoIterator<Item = &'k str>,
) -> Option<&'k str> {
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = edit_distance(wanted, k);
        let longest = wanted.chars().count().max(k.chars().count());
        let limit = (longest / 3).max(2);
        // A name that shares nothing with `wanted` is no suggestion.
        if d <= limit && d < longest && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_caret_and_hint() {
        let src = "step a:\n  goto salse\n";
        let mut r = Reporter::new("x.dialplan", src);
        r.error(
            Span::new(2, 8, 5),
            "no step named `salse`",
            Some("did you mean `sales`?".into()),
        );
        let text = r.found[0].to_string();
        assert_eq!(
            text,
            "error: no step named `salse`\n --> x.dialplan:2:8\n  |\n2 |   goto salse\n  |        ^^^^^\n  = hint: did you mean `sales`?"
        );
    }

    #[test]
    fn closest_name() {
        assert_eq!(closest("salse", ["sales", "support"]), Some("sales"));
        assert_eq!(closest("zzz", ["sales", "support"]), None);
    }
}
