//! HTTP digest computation for SIP (RFC 2617, RFC 7616, RFC 8760).
//!
//! Pure functions over `&str` inputs, shared by the client side (answering a carrier's
//! challenge) and the server side (checking a phone's credentials). Parsing and printing
//! of the `Authorization` / `WWW-Authenticate` parameter lists belong to the message layer;
//! this module only does the hashing.
//!
//! ```
//! use switchyard_sip::digest::{Algorithm, DigestParams, QopAuth, Secret};
//!
//! // RFC 7616 §3.9.1, SHA-256.
//! let params = DigestParams {
//!     algorithm: Algorithm::Sha256,
//!     username: "Mufasa",
//!     realm: "http-auth@example.org",
//!     nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
//!     method: "GET",
//!     uri: "/dir/index.html",
//!     qop: Some(QopAuth { nc: 1, cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" }),
//! };
//! assert_eq!(
//!     params.response(Secret::Password("Circle of Life")),
//!     "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::Sha256;

/// A digest algorithm (RFC 7616 §3.3; RFC 8760 registers SHA-256 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `MD5`, the default when a challenge names no algorithm.
    #[default]
    Md5,
    /// `MD5-sess`: H(A1) also covers the nonce and cnonce.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The token as written in the `algorithm` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The same hash without the session variant (`MD5-sess` -> `MD5`).
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    /// Hex length of this algorithm's hash (32 for MD5, 64 for SHA-256).
    pub fn hex_len(self) -> usize {
        match self.base() {
            Algorithm::Sha256 => 64,
            _ => 32,
        }
    }

    /// `H(data)` as lowercase hex, over the concatenation of `parts` joined by `:`.
    pub fn hash_joined(self, parts: &[&str]) -> String {
        match self.base() {
            Algorithm::Sha256 => hash_parts::<Sha256>(parts),
            _ => hash_parts::<Md5>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `algorithm` token this module does not implement (e.g. `SHA-512-256`, `AKAv1-MD5`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported digest algorithm {0:?}")]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    /// Tokens are case-insensitive (RFC 7616 §3.3).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| UnsupportedAlgorithm(s.to_owned()))
    }
}

/// The `qop=auth` parameters of a response: nonce count and client nonce.
/// `None` in [`DigestParams::qop`] means the RFC 2069 computation (no qop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// Nonce count, printed as 8 hex digits (`nc=00000001`).
    pub nc: u32,
    /// The client nonce (`cnonce`).
    pub cnonce: &'a str,
}

/// The secret a response is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The clear-text password.
    Password(&'a str),
    /// `H(username:realm:password)` in lowercase hex, as a server may store it instead of
    /// the password. For `-sess` algorithms, this is the base value before the session
    /// nonces are mixed in.
    Ha1(&'a str),
}

/// Everything that goes into a digest `response`, apart from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestParams<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    /// The request method (`REGISTER`, `INVITE`, ...; for an ACK or CANCEL the RFC uses
    /// the method of that request).
    pub method: &'a str,
    /// The `uri` parameter (the Request-URI as the client wrote it).
    pub uri: &'a str,
    pub qop: Option<QopAuth<'a>>,
}

impl DigestParams<'_> {
    /// H(A1), with the `-sess` mixing when the algorithm asks for it.
    pub fn ha1(&self, secret: Secret<'_>) -> String {
        let base = match secret {
            Secret::Password(pw) => password_ha1(self.algorithm, self.username, self.realm, pw),
            Secret::Ha1(h) => h.to_ascii_lowercase(),
        };
        if self.algorithm.is_session() {
            let cnonce = self.qop.map_or("", |q| q.cnonce);
            session_ha1(self.algorithm, &base, self.nonce, cnonce)
        } else {
            base
        }
    }

    /// H(A2) for `qop=auth` or no qop: `H(method:uri)`.
    pub fn ha2(&self) -> String {
        ha2(self.algorithm, self.method, self.uri)
    }

    /// The `response` parameter value.
    pub fn response(&self, secret: Secret<'_>) -> String {
        response(
            self.algorithm,
            &self.ha1(secret),
            self.nonce,
            self.qop,
            &self.ha2(),
        )
    }

    /// Whether `received` (a client's `response` parameter) matches the one computed from
    /// `secret`. The comparison takes the same time wherever the strings differ.
    pub fn verify(&self, secret: Secret<'_>, received: &str) -> bool {
        constant_time_eq(self.response(secret).as_bytes(), received.as_bytes())
    }
}

/// `H(username:realm:password)`: the base H(A1) a server may store instead of passwords.
/// For a `-sess` algorithm the base hash is the same as for its plain variant.
pub fn password_ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_joined(&[username, realm, password])
}

/// `H(H(username:realm:password):nonce:cnonce)` for `MD5-sess` / `SHA-256-sess`.
pub fn session_ha1(algorithm: Algorithm, base_ha1: &str, nonce: &str, cnonce: &str) -> String {
    algorithm.hash_joined(&[base_ha1, nonce, cnonce])
}

/// `H(method:uri)`.
pub fn ha2(algorithm: Algorithm, method: &str, uri: &str) -> String {
    algorithm.hash_joined(&[method, uri])
}

/// `KD(H(A1), nonce:nc:cnonce:auth:H(A2))` with qop, `KD(H(A1), nonce:H(A2))` without
/// (RFC 2069).
pub fn response(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    ha2: &str,
) -> String {
    match qop {
        Some(q) => {
            let nc = format_nc(q.nc);
            algorithm.hash_joined(&[ha1, nonce, &nc, q.cnonce, "auth", ha2])
        }
        None => algorithm.hash_joined(&[ha1, nonce, ha2]),
    }
}

/// `H(username:realm)`, the `userhash=true` form of the username (RFC 7616 §3.4.4).
pub fn userhash(algorithm: Algorithm, username: &str, realm: &str) -> String {
    algorithm.hash_joined(&[username, realm])
}

/// The nonce count as written on the wire: 8 lowercase hex digits.
pub fn format_nc(nc: u32) -> String {
    format!("{nc:08x}")
}

/// Parses an `nc` parameter value (exactly 8 hex digits).
pub fn parse_nc(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Byte comparison whose time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_parts<D: sha2::Digest>(parts: &[&str]) -> String {
    let mut h = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    to_hex(&h.finalize())
}

/// Lowercase hex. Written here because the hash crates' output type no longer formats
/// itself as hex, and a dependency for these few lines would weigh more than they do.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616(algorithm: Algorithm) -> DigestParams<'static> {
        DigestParams {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            nonce: RFC7616_NONCE,
            method: "GET",
            uri: "/dir/index.html",
            qop: Some(QopAuth {
                nc: 1,
                cnonce: RFC7616_CNONCE,
            }),
        }
    }

    #[test]
    fn rfc7616_md5_example() {
        let p = rfc7616(Algorithm::Md5);
        assert_eq!(
            p.response(Secret::Password("Circle of Life")),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn rfc7616_sha256_example() {
        let p = rfc7616(Algorithm::Sha256);
        assert_eq!(
            p.response(Secret::Password("Circle of Life")),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_example() {
        let p = DigestParams {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            method: "GET",
            uri: "/dir/index.html",
            qop: Some(QopAuth {
                nc: 1,
                cnonce: "0a4f113b",
            }),
        };
        assert_eq!(
            p.response(Secret::Password("Circle Of Life")),
            "6629fae49393a05397450978507c4ef1"
        );
        assert!(p.verify(
            Secret::Password("Circle Of Life"),
            "6629fae49393a05397450978507c4ef1"
        ));
        assert!(!p.verify(
            Secret::Password("Circle of Life"),
            "6629fae49393a05397450978507c4ef1"
        ));
    }

    #[test]
    fn stored_ha1_gives_same_response_as_password() {
        for alg in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            let p = rfc7616(alg);
            let ha1 = password_ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
            assert_eq!(ha1.len(), alg.hex_len());
            assert_eq!(
                p.response(Secret::Ha1(&ha1.to_ascii_uppercase())),
                p.response(Secret::Password("Circle of Life")),
                "{alg}"
            );
        }
    }

    #[test]
    fn session_variants_mix_nonce_and_cnonce() {
        let plain = rfc7616(Algorithm::Md5);
        let sess = rfc7616(Algorithm::Md5Sess);
        let secret = Secret::Password("Circle of Life");
        let base = plain.ha1(secret);
        assert_eq!(
            sess.ha1(secret),
            Algorithm::Md5.hash_joined(&[&base, RFC7616_NONCE, RFC7616_CNONCE])
        );
        assert_ne!(sess.response(secret), plain.response(secret));
        let mut other_cnonce = sess;
        other_cnonce.qop = Some(QopAuth { nc: 1, cnonce: "x" });
        assert_ne!(other_cnonce.response(secret), sess.response(secret));
    }

    #[test]
    fn rfc2069_response_without_qop() {
        // Known MD5 values: H("Mufasa:testrealm@host.com:Circle Of Life") and
        // H("GET:/dir/index.html") from RFC 2617 §3.5, combined without qop.
        let p = DigestParams {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            method: "GET",
            uri: "/dir/index.html",
            qop: None,
        };
        let secret = Secret::Password("Circle Of Life");
        assert_eq!(p.ha1(secret), "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(p.ha2(), "39aff3a2bab6126f332b942af96d3366");
        assert_eq!(
            p.response(secret),
            Algorithm::Md5.hash_joined(&[
                "939e7578ed9e3c518a452acee763bce9",
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                "39aff3a2bab6126f332b942af96d3366"
            ])
        );
        assert_eq!(p.response(secret), "670fd8c2df070c60b045671b8b24ff02");
    }

    #[test]
    fn algorithm_tokens() {
        assert_eq!("md5".parse(), Ok(Algorithm::Md5));
        assert_eq!("MD5-sess".parse(), Ok(Algorithm::Md5Sess));
        assert_eq!("sha-256".parse(), Ok(Algorithm::Sha256));
        assert_eq!("SHA-256-SESS".parse(), Ok(Algorithm::Sha256Sess));
        assert!("SHA-512-256".parse::<Algorithm>().is_err());
        for a in [Algorithm::Md5Sess, Algorithm::Sha256] {
            assert_eq!(a.to_string().parse(), Ok(a));
        }
    }

    #[test]
    fn nonce_count() {
        assert_eq!(format_nc(1), "00000001");
        assert_eq!(format_nc(0x1f), "0000001f");
        assert_eq!(parse_nc("0000001F"), Some(31));
        assert_eq!(parse_nc("1"), None);
        assert_eq!(parse_nc("+0000001"), None);
    }

    #[test]
    fn userhash_is_hash_of_user_and_realm() {
        assert_eq!(
            userhash(Algorithm::Md5, "Mufasa", "testrealm@host.com"),
            "74f54fe2c8045a5ffda7d02fd97f1716"
        );
    }
}
