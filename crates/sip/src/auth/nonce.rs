//! Stateless server nonces: `hex(timestamp ‖ counter ‖ HMAC-SHA-256(key, timestamp ‖ counter)[..16])`.
//!
//! The server keeps no table of issued nonces: the MAC proves it issued one, the timestamp
//! says how old it is. The only state is the highest nonce count (`nc`) seen per nonce, so
//! a replayed response is refused, and it is pruned as nonces expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PAYLOAD: usize = 16;
const TAG: usize = 16;
/// Length of a nonce in characters.
pub const NONCE_LEN: usize = 2 * (PAYLOAD + TAG);

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by this server and still fresh.
    Fresh,
    /// Issued by this server but expired: challenge again with `stale=true`.
    Stale,
    /// Not ours (forged, mangled, or from before a restart).
    Invalid,
}

/// Issues and checks nonces.
#[derive(Debug)]
pub struct Nonces {
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
    counter: u64,
    /// Highest nc seen per nonce, with the instant the nonce expires.
    seen: HashMap<String, (u32, Instant)>,
    /// Size of `seen` at which expired entries are next swept (doubles with the live set,
    /// so sweeping costs O(1) per accepted response on average).
    sweep_at: usize,
}

const MIN_SWEEP: usize = 4096;

impl Nonces {
    /// `key` must be secret and random (the daemon draws it at start); `epoch` is any
    /// instant before the first use; nonces are fresh for `lifetime`.
    pub fn new(key: [u8; 32], epoch: Instant, lifetime: Duration) -> Nonces {
        Nonces {
            key,
            epoch,
            lifetime,
            counter: 0,
            seen: HashMap::new(),
            sweep_at: MIN_SWEEP,
        }
    }

    /// How long a nonce stays fresh.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, payload: &[u8]) -> [u8; TAG] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }

    /// A new nonce, unique within this run.
    pub fn issue(&mut self, now: Instant) -> String {
        let ts = now.saturating_duration_since(self.epoch).as_secs();
        self.counter += 1;
        let mut payload = [0u8; PAYLOAD];
        payload[..8].copy_from_slice(&ts.to_be_bytes());
        payload[8..].copy_from_slice(&self.counter.to_be_bytes());
        let tag = self.mac(&payload);
        let mut out = String::with_capacity(NONCE_LEN);
        for b in payload.iter().chain(&tag) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Checks a nonce the client sent back.
    pub fn status(&self, now: Instant, nonce: &str) -> NonceStatus {
        match self.issued_at(nonce) {
            None => NonceStatus::Invalid,
            Some(at) if at > now => NonceStatus::Invalid,
            Some(at) if now.duration_since(at) >= self.lifetime => NonceStatus::Stale,
            Some(_) => NonceStatus::Fresh,
        }
    }

    fn issued_at(&self, nonce: &str) -> Option<Instant> {
        let bytes = nonce.as_bytes();
        if bytes.len() != NONCE_LEN {
            return None;
        }
        let mut raw = [0u8; PAYLOAD + TAG];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            raw[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        let (payload, tag) = raw.split_at(PAYLOAD);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(payload);
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(tag).ok()?;
        let ts = u64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        self.epoch.checked_add(Duration::from_secs(ts))
    }

    /// Records nonce count `nc` for a fresh nonce; false when it is not higher than every
    /// count already accepted for that nonce (a replay).
    pub fn accept_nc(&mut self, now: Instant, nonce: &str, nc: u32) -> bool {
        let Some(at) = self.issued_at(nonce) else {
            return false;
        };
        let expires = at + self.lifetime;
        if self.seen.len() >= self.sweep_at {
            self.seen.retain(|_, (_, exp)| *exp > now);
            self.sweep_at = (2 * self.seen.len()).max(MIN_SWEEP);
        }
        match self.seen.get_mut(nonce) {
            Some((last, _)) if nc <= *last => false,
            Some((last, _)) => {
                *last = nc;
                true
            }
            None => {
                self.seen.insert(nonce.to_owned(), (nc, expires));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(t0: Instant) -> Nonces {
        Nonces::new([7; 32], t0, Duration::from_secs(300))
    }

    #[test]
    fn fresh_then_stale() {
        let t0 = Instant::now();
        let mut n = nonces(t0);
        let a = n.issue(t0 + Duration::from_secs(10));
        let b = n.issue(t0 + Duration::from_secs(10));
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE_LEN);
        assert_eq!(
            n.status(t0 + Duration::from_secs(309), &a),
            NonceStatus::Fresh
        );
        assert_eq!(
            n.status(t0 + Duration::from_secs(310), &a),
            NonceStatus::Stale
        );
    }

    #[test]
    fn forged_or_foreign_nonces_are_invalid() {
        let t0 = Instant::now();
        let mut n = nonces(t0);
        let a = n.issue(t0);
        let mut forged = a.clone().into_bytes();
        // Move the timestamp forward without the key: the MAC no longer matches.
        forged[15] = if forged[15] == b'1' { b'2' } else { b'1' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(n.status(t0, &forged), NonceStatus::Invalid);
        assert_eq!(n.status(t0, "abc"), NonceStatus::Invalid);
        assert_eq!(n.status(t0, &"zz".repeat(32)), NonceStatus::Invalid);
        let other = Nonces::new([8; 32], t0, Duration::from_secs(300));
        assert_eq!(other.status(t0, &a), NonceStatus::Invalid);
    }

    #[test]
    fn nonce_counts_must_increase() {
        let t0 = Instant::now();
        let mut n = nonces(t0);
        let a = n.issue(t0);
        assert!(n.accept_nc(t0, &a, 1));
        assert!(!n.accept_nc(t0, &a, 1));
        assert!(n.accept_nc(t0, &a, 2));
        assert!(!n.accept_nc(t0, &a, 1));
        assert!(!n.accept_nc(t0, "not-ours", 5));
    }
}
