//! Server side of SIP digest authentication (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Nonces are stateless ([`Nonces`]): an HMAC-SHA-256 over a timestamp and a counter.

mod nonce;

pub use nonce::{NONCE_LEN, NonceStatus, Nonces};
