//! Values and expressions: comparison, string operations, arithmetic, and/or/not.

use std::fmt;

use crate::diag::Span;
use crate::lines::Scan;

/// A variable's value. Digits collected from a caller are strings (leading zeros matter);
/// arithmetic gives integers; conditions give booleans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text.
    Str(Box<str>),
    /// A whole number.
    Int(i64),
    /// True or false.
    Bool(bool),
}

impl Default for Value {
    fn default() -> Self {
        Value::Str("".into())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Value {
    pub(crate) fn str(s: impl Into<Box<str>>) -> Self {
        Value::Str(s.into())
    }

    /// Truthiness: false, 0 and the empty string are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(n) => *n != 0,
            Value::Bool(b) => *b,
        }
    }

    /// The value as an integer, if it is one or is text that reads as one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Bool(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
    Length,
    Substr,
    Lower,
    Upper,
}

impl Func {
    fn by_name(name: &str) -> Option<(Func, usize, usize)> {
        Some(match name {
            "starts_with" => (Func::StartsWith, 2, 2),
            "ends_with" => (Func::EndsWith, 2, 2),
            "contains" => (Func::Contains, 2, 2),
            "length" => (Func::Length, 1, 1),
            "substr" => (Func::Substr, 2, 3),
            "lower" => (Func::Lower, 1, 1),
            "upper" => (Func::Upper, 1, 1),
            _ => return None,
        })
    }
}

/// A compiled expression. Variables are slots; schedules and holiday lists are indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Lit(Value),
    Var(u16),
    /// A string with `${name}` parts.
    Interp(Box<[Part]>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Box<[Expr]>),
    Open(u16),
    Holiday(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(Box<str>),
    Var(u16),
}

/// What expression parsing needs from the compiler: variable slots and named schedules.
pub(crate) trait Names {
    /// The slot of a variable that is read; records the use for the checker.
    fn read_var(&mut self, name: &str, span: Span) -> u16;
    /// The index of a `hours` block.
    fn schedule(&mut self, name: &str, span: Span) -> Option<u16>;
    /// The index of a `holidays` block.
    fn holidays(&mut self, name: &str, span: Span) -> Option<u16>;
}

pub(crate) type ParseErr = (Span, String, Option<String>);

fn err<T>(span: Span, msg: impl Into<String>, hint: Option<&str>) -> Result<T, ParseErr> {
    Err((span, msg.into(), hint.map(str::to_owned)))
}

/// Parses an expression that runs to the end of the scanner or to a `:` ending a header.
pub(crate) fn parse(s: &mut Scan<'_>, names: &mut dyn Names) -> Result<Expr, ParseErr> {
    if s.at_end() || s.peek() == Some(':') {
        return err(
            s.here(),
            "an expression is missing here",
            Some("for example `digits == \"1\"` or `open(business)`"),
        );
    }
    or(s, names)
}

fn or(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let mut left = and(s, n)?;
    while s.eat_word("or") {
        let right = and(s, n)?;
        left = Expr::Bin(BinOp::Or, Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn and(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let mut left = not(s, n)?;
    while s.eat_word("and") {
        let right = not(s, n)?;
        left = Expr::Bin(BinOp::And, Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn not(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    if s.eat_word("not") {
        return Ok(Expr::Not(Box::new(not(s, n)?)));
    }
    cmp(s, n)
}

fn cmp(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let left = concat(s, n)?;
    let op = if s.eat_str("==") {
        BinOp::Eq
    } else if s.eat_str("!=") {
        BinOp::Ne
    } else if s.eat_str("<=") {
        BinOp::Le
    } else if s.eat_str(">=") {
        BinOp::Ge
    } else if s.eat_str("<") {
        BinOp::Lt
    } else if s.eat_str(">") {
        BinOp::Gt
    } else if s.peek() == Some('=') {
        return err(
            s.here(),
            "`=` sets a variable; comparing needs `==`",
            Some("write `==` to compare, or use `set NAME = VALUE` to assign"),
        );
    } else {
        return Ok(left);
    };
    let right = concat(s, n)?;
    Ok(Expr::Bin(op, Box::new(left), Box::new(right)))
}

fn concat(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let mut left = add(s, n)?;
    while s.eat('&') {
        let right = add(s, n)?;
        left = Expr::Bin(BinOp::Concat, Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn add(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let mut left = mul(s, n)?;
    loop {
        let op = if s.eat('+') {
            BinOp::Add
        } else if s.eat('-') {
            BinOp::Sub
        } else {
            return Ok(left);
        };
        let right = mul(s, n)?;
        left = Expr::Bin(op, Box::new(left), Box::new(right));
    }
}

fn mul(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    let mut left = unary(s, n)?;
    loop {
        let op = if s.eat('*') {
            BinOp::Mul
        } else if s.eat('/') {
            BinOp::Div
        } else if s.eat('%') {
            BinOp::Rem
        } else {
            return Ok(left);
        };
        let right = unary(s, n)?;
        left = Expr::Bin(op, Box::new(left), Box::new(right));
    }
}

fn unary(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    if s.eat('-') {
        return Ok(Expr::Neg(Box::new(unary(s, n)?)));
    }
    primary(s, n)
}

fn primary(s: &mut Scan<'_>, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    if s.eat('(') {
        let e = or(s, n)?;
        if !s.eat(')') {
            return err(s.here(), "a `(` is not closed", Some("add `)`"));
        }
        return Ok(e);
    }
    match s.string() {
        Ok(Some((text, span))) => return interpolate(&text, span, n),
        Ok(None) => {}
        Err((span, msg)) => return err(span, msg, Some("close the string with `\"`")),
    }
    if let Some((v, _)) = s.number() {
        return Ok(Expr::Lit(Value::Int(v)));
    }
    let Some((word, span)) = s.ident() else {
        let here = s.here();
        return match s.peek() {
            None => err(here, "the expression ends too early", None),
            Some(c) => err(
                here,
                format!("`{c}` cannot start a value"),
                Some("a value is a \"string\", a number, a variable name or a function call"),
            ),
        };
    };
    match word {
        "true" => return Ok(Expr::Lit(Value::Bool(true))),
        "false" => return Ok(Expr::Lit(Value::Bool(false))),
        _ => {}
    }
    if !s.eat('(') {
        return Ok(Expr::Var(n.read_var(word, span)));
    }
    // A function call.
    if word == "open" || word == "holiday" {
        let Some((arg, aspan)) = s.ident() else {
            return err(
                s.here(),
                format!(
                    "`{word}(...)` takes the name of a `{}` block",
                    block_of(word)
                ),
                Some("for example `open(business)`"),
            );
        };
        if !s.eat(')') {
            return err(s.here(), "a `(` is not closed", Some("add `)`"));
        }
        let idx = if word == "open" {
            n.schedule(arg, aspan).map(Expr::Open)
        } else {
            n.holidays(arg, aspan).map(Expr::Holiday)
        };
        // An unknown name was reported by `Names`; keep parsing with a harmless value.
        return Ok(idx.unwrap_or(Expr::Lit(Value::Bool(false))));
    }
    let Some((func, min, max)) = Func::by_name(word) else {
        return err(
            span,
            format!("no function named `{word}`"),
            Some(
                "functions are open, holiday, starts_with, ends_with, contains, length, substr, lower, upper",
            ),
        );
    };
    let mut args = Vec::new();
    if !s.eat(')') {
        loop {
            args.push(or(s, n)?);
            if s.eat(')') {
                break;
            }
            if !s.eat(',') {
                return err(s.here(), "expected `,` or `)` in the arguments", None);
            }
        }
    }
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} or {max}")
        };
        return err(
            span,
            format!("`{word}` takes {want} arguments, not {}", args.len()),
            None,
        );
    }
    Ok(Expr::Call(func, args.into_boxed_slice()))
}

fn block_of(word: &str) -> &'static str {
    if word == "open" { "hours" } else { "holidays" }
}

/// Turns `"text ${name} text"` into parts. `\$` is a literal dollar.
pub(crate) fn interpolate(text: &str, span: Span, n: &mut dyn Names) -> Result<Expr, ParseErr> {
    if !text.contains('$') && !text.contains('\\') {
        return Ok(Expr::Lit(Value::str(text)));
    }
    let mut parts = Vec::new();
    let mut buf = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['$', '\\']) {
        buf.push_str(&rest[..i]);
        if rest[i..].starts_with("\\$") {
            buf.push('$');
            rest = &rest[i + 2..];
            continue;
        }
        if rest[i..].starts_with('\\') {
            buf.push('\\');
            rest = &rest[i + 1..];
            continue;
        }
        let after = &rest[i + 1..];
        let Some(body) = after.strip_prefix('{') else {
            buf.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return err(
                span,
                "`${` in this string is not closed",
                Some("write `${name}`, or `\\$` for a dollar sign"),
            );
        };
        let name = body[..end].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return err(
                span,
                format!("`${{{name}}}` is not a variable name"),
                Some("inside `${...}` put a variable name such as `caller`"),
            );
        }
        if !buf.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut buf).into()));
        }
        parts.push(Part::Var(n.read_var(name, span)));
        rest = &body[end + 1..];
    }
    buf.push_str(rest);
    if !buf.is_empty() {
        parts.push(Part::Text(buf.into()));
    }
    if let [Part::Text(t)] = parts.as_slice() {
        return Ok(Expr::Lit(Value::Str(t.clone())));
    }
    Ok(Expr::Interp(parts.into_boxed_slice()))
}

/// What evaluation needs from a running call.
pub(crate) trait Env {
    fn var(&self, slot: u16) -> Value;
    fn open(&self, schedule: u16) -> bool;
    fn holiday(&self, list: u16) -> bool;
}

/// Evaluates an expression. Errors (division by zero, arithmetic on text) give a message.
pub(crate) fn eval(e: &Expr, env: &dyn Env) -> Result<Value, String> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(slot) => env.var(*slot),
        Expr::Interp(parts) => {
            let mut s = String::new();
            for p in parts.iter() {
                match p {
                    Part::Text(t) => s.push_str(t),
                    Part::Var(v) => s.push_str(&env.var(*v).to_string()),
                }
            }
            Value::str(s)
        }
        Expr::Not(x) => Value::Bool(!eval(x, env)?.truthy()),
        Expr::Neg(x) => {
            let v = eval(x, env)?;
            Value::Int(int(&v)?.saturating_neg())
        }
        Expr::Open(i) => Value::Bool(env.open(*i)),
        Expr::Holiday(i) => Value::Bool(env.holiday(*i)),
        Expr::Bin(BinOp::And, a, b) => {
            Value::Bool(eval(a, env)?.truthy() && eval(b, env)?.truthy())
        }
        Expr::Bin(BinOp::Or, a, b) => Value::Bool(eval(a, env)?.truthy() || eval(b, env)?.truthy()),
        Expr::Bin(op, a, b) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            binary(*op, &a, &b)?
        }
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, env))
                .collect::<Result<Vec<_>, _>>()?;
            call(*f, &vals)?
        }
    })
}

/// A number for arithmetic; an unset variable (empty text) counts as 0.
fn int(v: &Value) -> Result<i64, String> {
    if matches!(v, Value::Str(s) if s.is_empty()) {
        return Ok(0);
    }
    v.as_int().ok_or_else(|| format!("`{v}` is not a number"))
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    use std::cmp::Ordering;
    let ord = || -> Ordering {
        // Values that read as numbers compare as numbers ("10" > "9"); others as text.
        // Equality is stricter: two texts are equal only when identical ("007" != "7").
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => match (x.parse::<i64>(), y.parse::<i64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.cmp(y),
            },
            _ => match (a.as_int(), b.as_int()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.to_string().cmp(&b.to_string()),
            },
        }
    };
    let eq = || -> bool {
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            _ => match (a.as_int(), b.as_int()) {
                (Some(x), Some(y)) => x == y,
                _ => a.to_string() == b.to_string(),
            },
        }
    };
    Ok(match op {
        BinOp::Eq => Value::Bool(eq()),
        BinOp::Ne => Value::Bool(!eq()),
        BinOp::Lt => Value::Bool(ord().is_lt()),
        BinOp::Le => Value::Bool(ord().is_le()),
        BinOp::Gt => Value::Bool(ord().is_gt()),
        BinOp::Ge => Value::Bool(ord().is_ge()),
        BinOp::Concat => Value::str(format!("{a}{b}")),
        BinOp::Add => Value::Int(int(a)?.saturating_add(int(b)?)),
        BinOp::Sub => Value::Int(int(a)?.saturating_sub(int(b)?)),
        BinOp::Mul => Value::Int(int(a)?.saturating_mul(int(b)?)),
        BinOp::Div | BinOp::Rem => {
            let (x, y) = (int(a)?, int(b)?);
            if y == 0 {
                return Err("division by zero".into());
            }
            Value::Int(if op == BinOp::Div {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            })
        }
        // `and`/`or` short-circuit in `eval`; this is the same truth table.
        BinOp::And => Value::Bool(a.truthy() && b.truthy()),
        BinOp::Or => Value::Bool(a.truthy() || b.truthy()),
    })
}

fn call(f: Func, a: &[Value]) -> Result<Value, String> {
    let s = |i: usize| a[i].to_string();
    Ok(match f {
        Func::StartsWith => Value::Bool(s(0).starts_with(&s(1))),
        Func::EndsWith => Value::Bool(s(0).ends_with(&s(1))),
        Func::Contains => Value::Bool(s(0).contains(&s(1))),
        Func::Length => Value::Int(s(0).chars().count() as i64),
        Func::Lower => Value::str(s(0).to_lowercase()),
        Func::Upper => Value::str(s(0).to_uppercase()),
        Func::Substr => {
            let text = s(0);
            let start = usize::try_from(int(&a[1])?).unwrap_or(0);
            let len = match a.get(2) {
                Some(v) => usize::try_from(int(v)?).unwrap_or(0),
                None => usize::MAX,
            };
            Value::str(text.chars().skip(start).take(len).collect::<String>())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T(Vec<String>);
    impl Names for T {
        fn read_var(&mut self, name: &str, _: Span) -> u16 {
            if let Some(i) = self.0.iter().position(|n| n == name) {
                return i as u16;
            }
            self.0.push(name.into());
            (self.0.len() - 1) as u16
        }
        fn schedule(&mut self, _: &str, _: Span) -> Option<u16> {
            Some(0)
        }
        fn holidays(&mut self, _: &str, _: Span) -> Option<u16> {
            None
        }
    }
    struct E(Vec<Value>);
    impl Env for E {
        fn var(&self, slot: u16) -> Value {
            self.0[slot as usize].clone()
        }
        fn open(&self, _: u16) -> bool {
            true
        }
        fn holiday(&self, _: u16) -> bool {
            false
        }
    }

    fn run(src: &str, vars: Vec<Value>) -> Value {
        let mut names = T(vec!["a".into(), "b".into()]);
        let mut s = Scan::sub(src, 1, 1);
        let e = parse(&mut s, &mut names).unwrap();
        assert!(s.at_end(), "left over: {}", s.rest());
        eval(&e, &E(vars)).unwrap()
    }

    #[test]
    fn arithmetic_comparison_and_logic() {
        let v = || vec![Value::str("0123"), Value::Int(5)];
        assert_eq!(run("b * 2 + 1", v()), Value::Int(11));
        assert_eq!(run("b >= 5 and not (a == \"123\")", v()), Value::Bool(true));
        assert_eq!(run("a == \"0123\" or false", v()), Value::Bool(true));
        assert_eq!(run("a & \"-\" & b", v()), Value::str("0123-5"));
        assert_eq!(run("starts_with(a, \"01\")", v()), Value::Bool(true));
        assert_eq!(run("substr(a, 1, 2)", v()), Value::str("12"));
        assert_eq!(run("length(a) == 4", v()), Value::Bool(true));
        assert_eq!(run("\"n=${b}!\"", v()), Value::str("n=5!"));
        assert_eq!(run("open(x)", v()), Value::Bool(true));
        assert_eq!(run("\"10\" < \"9\"", v()), Value::Bool(false));
    }

    #[test]
    fn single_equals_gets_a_hint() {
        let mut names = T(vec![]);
        let mut s = Scan::sub("digits = 1", 3, 6);
        let (span, msg, hint) = parse(&mut s, &mut names).unwrap_err();
        assert_eq!((span.line, span.col), (3, 13));
        assert!(msg.contains("=="));
        assert!(hint.unwrap().contains("=="));
    }

    #[test]
    fn division_by_zero_is_an_error_value() {
        let mut names = T(vec![]);
        let e = parse(&mut Scan::sub("1 / 0", 1, 1), &mut names).unwrap();
        assert!(eval(&e, &E(vec![])).is_err());
    }
}
