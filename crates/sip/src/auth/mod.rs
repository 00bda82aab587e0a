//! Server side of SIP digest authentication (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Nonces are stateless ([`Nonces`]): an HMAC-SHA-256 over a timestamp and a counter.
//! [`DigestServer`] issues challenges (SHA-256 first, then MD5, `qop=auth`) and checks
//! answers; unknown users and wrong passwords get the same [`Verdict::Rejected`].
//! [`Throttle`] locks an (address, user name) pair after repeated wrong answers.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_sip::auth::{DigestCredentials, DigestServer, Nonces, Verdict};
//! use switchyard_sip::digest::{Algorithm, DigestParams, QopAuth, Secret};
//!
//! let now = Instant::now();
//! let mut server = DigestServer::new("pbx.example", Nonces::new([9; 32], now, Duration::from_secs(300)));
//! let challenge = &server.challenges(now, false)[0]; // a WWW-Authenticate value
//! let nonce = challenge.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap();
//!
//! // What a phone computes for that challenge:
//! let response = DigestParams {
//!     algorithm: Algorithm::Sha256, username: "1001", realm: "pbx.example", nonce,
//!     method: "REGISTER", uri: "sip:pbx.example", qop: Some(QopAuth { nc: 1, cnonce: "xyz" }),
//! }
//! .response(Secret::Password("s3cret"));
//! let creds = DigestCredentials {
//!     username: Some("1001"), realm: Some("pbx.example"), nonce: Some(nonce),
//!     uri: Some("sip:pbx.example"), response: Some(&response), algorithm: Some("SHA-256"),
//!     qop: Some("auth"), nc: Some("00000001"), cnonce: Some("xyz"),
//! };
//! let verdict = server.verify(now, "REGISTER", &creds, |user| (user == "1001").then_some("s3cret"));
//! assert_eq!(verdict, Verdict::Authorized { username: "1001".into() });
//! ```

mod nonce;
mod server;
mod throttle;

pub use nonce::{NONCE_LEN, NonceStatus, Nonces};
pub use server::{DigestCredentials, DigestServer, Verdict};
pub use throttle::{Throttle, ThrottleConfig};
