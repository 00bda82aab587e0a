//! Number patterns for entry points: `+86105800[0-4]X`, `+4420*`, `1XXX`.
//!
//! `X` is any digit, `N` is 2-9, `Z` is 1-9, `[1-5,7]` is a set of digits, `?` is any one
//! character and `*` any run of characters (including none). Anything else matches itself.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    Char(char),
    /// A set of character ranges, from `X`, `N`, `Z` or `[...]`.
    Set(Box<[(char, char)]>),
    One,
    Any,
}

/// A compiled number pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    elems: Box<[Elem]>,
}

impl Pattern {
    /// Compiles a pattern; the error is the character offset of the fault and a message.
    pub(crate) fn parse(src: &str) -> Result<Pattern, (usize, String)> {
        let chars: Vec<char> = src.chars().collect();
        let mut elems = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let e = match chars[i] {
                'X' => Elem::Set(Box::new([('0', '9')])),
                'N' => Elem::Set(Box::new([('2', '9')])),
                'Z' => Elem::Set(Box::new([('1', '9')])),
                '?' => Elem::One,
                '*' => Elem::Any,
                '[' => {
                    let open = i;
                    let mut ranges = Vec::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err((open, "`[` is not closed by `]`".into())),
                            Some(']') => break,
                            Some(',') => i += 1,
                            Some(&a) => {
                                if chars.get(i + 1) == Some(&'-') {
                                    match chars.get(i + 2) {
                                        Some(&b) if b != ']' && b >= a => {
                                            ranges.push((a, b));
                                            i += 3;
                                        }
                                        _ => {
                                            return Err((
                                                i,
                                                "a range in `[...]` goes from low to high, e.g. `[0-4]`".into(),
                                            ));
                                        }
                                    }
                                } else {
                                    ranges.push((a, a));
                                    i += 1;
                                }
                            }
                        }
                    }
                    if ranges.is_empty() {
                        return Err((open, "`[]` matches nothing".into()));
                    }
                    Elem::Set(ranges.into_boxed_slice())
                }
                c => Elem::Char(c),
            };
            elems.push(e);
            i += 1;
        }
        if elems.is_empty() {
            return Err((0, "a pattern cannot be empty".into()));
        }
        Ok(Pattern {
            elems: elems.into_boxed_slice(),
        })
    }

    /// True when the whole of `s` matches.
    pub(crate) fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        matches_at(&self.elems, &chars)
    }
}

fn matches_at(p: &[Elem], s: &[char]) -> bool {
    // Iterative glob matching with one backtrack point for the last `*`: linear for the
    // patterns used here, never exponential.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Elem::Any) => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some(Elem::One) => {
                pi += 1;
                si += 1;
                continue;
            }
            Some(Elem::Char(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
                continue;
            }
            Some(Elem::Set(r)) if r.iter().any(|(a, b)| *a <= s[si] && s[si] <= *b) => {
                pi += 1;
                si += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|e| *e == Elem::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::parse(p).unwrap().matches(s)
    }

    #[test]
    fn patterns() {
        assert!(m("+861058000000", "+861058000000"));
        assert!(!m("+861058000000", "+8610580000001"));
        assert!(m("+86105800000[0-4]", "+861058000003"));
        assert!(!m("+86105800000[0-4]", "+861058000005"));
        assert!(m("+4420*", "+442079460000"));
        assert!(m("+4420*", "+4420"));
        assert!(m("1XXX", "1234"));
        assert!(!m("1XXX", "123"));
        assert!(m("NXX", "234") && !m("NXX", "134"));
        assert!(m("*0000", "+86100000"));
        assert!(m("[1,3,5-7]?", "6a"));
        assert!(m("*", ""));
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(Pattern::parse("12[3").unwrap_err().0, 2);
        assert_eq!(Pattern::parse("1[5-2]").unwrap_err().0, 2);
        assert!(Pattern::parse("").is_err());
    }
}
