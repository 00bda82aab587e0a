//! Slowing down password guessing: after too many wrong answers for one user name from one
//! IP address, that pair is locked for a while and even the right password is refused —
//! with the very same fresh challenge as any wrong one, so a guesser cannot tell that it
//! was locked, nor which guess was right.
//!
//! Keyed by (address, user name): other phones behind the same NAT keep working, and the
//! key does not depend on whether the user exists, so locking reveals nothing either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How many wrong answers lock a pair, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Wrong answers within `window` that lock the pair.
    pub max_failures: u32,
    /// The counting window, and the lock's length after the last failure.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 10,
            window: Duration::from_secs(300),
        }
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// Failure counts per (address, user name).
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    /// By address, then user name (nested so lookups need no allocation).
    entries: HashMap<IpAddr, HashMap<String, Entry>>,
    /// Number of (address, user) entries.
    len: usize,
    sweep_at: usize,
}

const MIN_SWEEP: usize = 4096;

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            entries: HashMap::new(),
            len: 0,
            sweep_at: MIN_SWEEP,
        }
    }

    /// Whether answers for `user` from `ip` are refused at `now`.
    pub fn is_locked(&self, now: Instant, ip: IpAddr, user: &str) -> bool {
        self.entries
            .get(&ip)
            .and_then(|users| users.get(user))
            .is_some_and(|e| {
                e.failures >= self.config.max_failures
                    && now.saturating_duration_since(e.last) < self.config.window
            })
    }

    /// Records a wrong answer.
    pub fn failed(&mut self, now: Instant, ip: IpAddr, user: &str) {
        if self.len >= self.sweep_at {
            let window = self.config.window;
            for users in self.entries.values_mut() {
                users.retain(|_, e| now.saturating_duration_since(e.last) < window);
            }
            self.entries.retain(|_, users| !users.is_empty());
            self.len = self.entries.values().map(HashMap::len).sum();
            self.sweep_at = (2 * self.len).max(MIN_SWEEP);
        }
        let users = self.entries.entry(ip).or_default();
        let e = match users.get_mut(user) {
            Some(e) => e,
            None => {
                self.len += 1;
                users.entry(user.to_owned()).or_insert(Entry {
                    failures: 0,
                    last: now,
                })
            }
        };
        if now.saturating_duration_since(e.last) >= self.config.window {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
    }

    /// Records a right answer: the pair's count starts again.
    pub fn succeeded(&mut self, ip: IpAddr, user: &str) {
        if let Some(users) = self.entries.get_mut(&ip)
            && users.remove(user).is_some()
        {
            self.len -= 1;
            if users.is_empty() {
                self.entries.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_for_the_window() {
        let t0 = Instant::now();
        let mut t = Throttle::new(ThrottleConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..3 {
            assert!(!t.is_locked(t0, ip, "1001"), "after {i}");
            t.failed(t0, ip, "1001");
        }
        assert!(t.is_locked(t0 + Duration::from_secs(59), ip, "1001"));
        assert!(
            !t.is_locked(t0, other, "1001"),
            "another address is not locked"
        );
        assert!(!t.is_locked(t0, ip, "1002"), "another user is not locked");
        assert!(!t.is_locked(t0 + Duration::from_secs(60), ip, "1001"));
        // Failures spread wider than the window do not add up.
        t.failed(t0 + Duration::from_secs(200), ip, "1002");
        t.failed(t0 + Duration::from_secs(300), ip, "1002");
        t.failed(t0 + Duration::from_secs(400), ip, "1002");
        assert!(!t.is_locked(t0 + Duration::from_secs(400), ip, "1002"));
        t.succeeded(ip, "1001");
        assert!(!t.is_locked(t0, ip, "1001"));
    }
}
