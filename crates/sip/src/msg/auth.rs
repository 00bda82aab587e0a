//! Authorization / Proxy-Authorization credentials and WWW-Authenticate /
//! Proxy-Authenticate challenges (RFC 3261 §25.1, RFC 8760): a scheme and `name=value`
//! parameters.

use std::fmt;

use super::scan::{is_token, skip_token, skip_ws, split_commas, unquote};

/// A scheme with parameters, shared by [`Credentials`] and [`Challenge`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct AuthValue {
    scheme: String,
    /// (name, unquoted value, was quoted)
    params: Vec<(String, String, bool)>,
}

impl AuthValue {
    fn parse(s: &str) -> Option<AuthValue> {
        let b = s.as_bytes();
        let i = skip_ws(b, 0);
        let e = skip_token(b, i);
        if e == i {
            return None;
        }
        let scheme = s[i..e].to_owned();
        let mut params = Vec::new();
        let rest = &s[e..];
        if !rest.trim().is_empty() {
            for (a, z) in split_commas(rest.as_bytes()).ok()? {
                let item = &rest[a..z];
                if item.is_empty() {
                    continue;
                }
                let Some(eq) = item.find('=') else {
                    // token68 (e.g. a Basic or NTLM blob): keep it as an unnamed value.
                    params.push((String::new(), item.to_owned(), false));
                    continue;
                };
                let name = item[..eq].trim();
                let value = item[eq + 1..].trim();
                if name.is_empty() || !name.bytes().all(is_token) {
                    return None;
                }
                let quoted = value.starts_with('"');
                if quoted && (value.len() < 2 || !value.ends_with('"')) {
                    return None;
                }
                params.push((name.to_owned(), unquote(value).into_owned(), quoted));
            }
        }
        Some(AuthValue { scheme, params })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str, quoted: bool) {
        if let Some(p) = self
            .params
            .iter_mut()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        {
            p.1 = value.to_owned();
            p.2 = quoted;
        } else {
            self.params
                .push((name.to_owned(), value.to_owned(), quoted));
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (n, v, q)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            if !n.is_empty() {
                write!(f, "{n}=")?;
            }
            if *q {
                f.write_str("\"")?;
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?;
            } else {
                f.write_str(v)?;
            }
        }
        Ok(())
    }
}

/// Parameters RFC 8760/RFC 7616 send unquoted.
fn unquoted_by_default(name: &str, in_credentials: bool) -> bool {
    ["algorithm", "stale", "nc"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || (in_credentials && name.eq_ignore_ascii_case("qop"))
}

macro_rules! auth_type {
    ($name:ident, $doc:literal, $creds:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, Eq, Default)]
        pub struct $name(AuthValue);

        impl $name {
            /// An empty value of the given scheme (e.g. `Digest`).
            pub fn new(scheme: &str) -> $name {
                $name(AuthValue {
                    scheme: scheme.to_owned(),
                    params: Vec::new(),
                })
            }

            /// Parses a header value; `None` when it is not `scheme [params]`.
            pub fn parse(s: &str) -> Option<$name> {
                AuthValue::parse(s).map($name)
            }

            /// The scheme as written (`Digest`).
            pub fn scheme(&self) -> &str {
                &self.0.scheme
            }

            /// A parameter by name (case-insensitive), unquoted.
            pub fn param(&self, name: &str) -> Option<&str> {
                self.0.param(name)
            }

            /// All parameters in order as `(name, unquoted value)`.
            pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
                self.0
                    .params
                    .iter()
                    .map(|(n, v, _)| (n.as_str(), v.as_str()))
            }

            /// Sets a parameter; it is printed quoted unless it is one of those RFC 8760
            /// sends bare (`algorithm`, `stale`, `nc`, and `qop` in credentials).
            pub fn set_param(&mut self, name: &str, value: &str) {
                let quoted = !unquoted_by_default(name, $creds);
                self.0.set(name, value, quoted);
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f)
            }
        }
    };
}

auth_type!(
    Credentials,
    "Credentials from Authorization or Proxy-Authorization.",
    true
);
auth_type!(
    Challenge,
    "A challenge from WWW-Authenticate or Proxy-Authenticate.",
    false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trip() {
        let v = r#"Digest username="bob", realm="example.com", nonce="a\"b", uri="sip:example.com", response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="c""#;
        let c = Credentials::parse(v).unwrap();
        assert_eq!(c.scheme(), "Digest");
        assert_eq!(c.param("USERNAME"), Some("bob"));
        assert_eq!(c.param("nonce"), Some("a\"b"));
        assert_eq!(c.param("qop"), Some("auth"));
        assert_eq!(c.to_string(), v);
        let mut ch = Challenge::new("Digest");
        ch.set_param("realm", "r");
        ch.set_param("qop", "auth");
        ch.set_param("algorithm", "SHA-256");
        assert_eq!(
            ch.to_string(),
            r#"Digest realm="r", qop="auth", algorithm=SHA-256"#
        );
    }
}
