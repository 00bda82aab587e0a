//! Session timers (RFC 4028): negotiation of the interval and the refresher, the refresh at
//! half the interval, and the end of a session nobody refreshed.

use std::time::{Duration, Instant};

use crate::transaction::Branch;
use crate::{CSeq, Refresher, Request, Response};

/// The smallest Min-SE RFC 4028 §5 allows, in seconds.
pub const RFC4028_MIN_SE: u32 = 90;

/// What this side asks for and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Use session timers at all. With `false`, requests carry no Session-Expires and the
    /// UAS applies one only when the UAC asked for it.
    pub enabled: bool,
    /// The Session-Expires we ask for (as UAC) or apply when the UAC asked for none, in
    /// seconds (default 1800, RFC 4028 §4).
    pub session_expires: u32,
    /// Our Min-SE: a smaller Session-Expires is answered 422 (default and minimum 90).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            enabled: true,
            session_expires: 1800,
            min_se: 90,
        }
    }
}

impl SessionTimerConfig {
    /// Adds `Supported: timer`, `Session-Expires` and `Min-SE` to an INVITE we send
    /// (RFC 4028 §7.1). The refresher is left to the UAS.
    pub fn decorate_request(&self, req: &mut Request) {
        if !req.headers.supported().contains(&"timer") {
            req.headers.push("Supported", "timer");
        }
        if self.enabled {
            req.headers.set(
                "Session-Expires",
                self.session_expires.max(self.min_se).to_string(),
            );
            req.headers.set("Min-SE", self.min_se.to_string());
        }
    }
}

/// RFC 4028 §8.1: a request whose Session-Expires is below our Min-SE gets a 422 carrying
/// our Min-SE (the caller adds the To tag). `None` when the request is acceptable.
pub fn min_se_too_small(req: &Request, config: &SessionTimerConfig) -> Option<Response> {
    let se = req.headers.session_expires()?;
    if se.delta >= config.min_se {
        return None;
    }
    let mut resp = Response::for_request(req, 422, "Session Interval Too Small");
    resp.headers.push("Min-SE", config.min_se.to_string());
    Some(resp)
}

/// RFC 4028 §7.4: our request was answered 422 (our Session-Expires was below the peer's
/// Min-SE). Returns the request to send instead: Session-Expires and Min-SE raised to the
/// peer's Min-SE, CSeq one higher, `branch` in the top Via. `None` when the response is
/// not a usable 422 or would not raise the interval (no loop on a confused peer).
pub fn retry_after_422(req: &Request, resp: &Response, branch: &Branch) -> Option<Request> {
    if resp.status != 422 {
        return None;
    }
    let min_se = resp.headers.min_se()?;
    let current = req.headers.session_expires().map_or(0, |se| se.delta);
    if min_se <= current {
        return None;
    }
    let mut again = req.clone();
    let cseq = req.headers.cseq()?;
    again.headers.set(
        "CSeq",
        CSeq {
            seq: cseq.seq + 1,
            method: cseq.method,
        }
        .to_string(),
    );
    again
        .headers
        .top_via_mut()?
        .set_param("branch", Some(branch.as_str()));
    again.headers.set("Session-Expires", min_se.to_string());
    again.headers.set("Min-SE", min_se.to_string());
    Some(again)
}

/// The negotiated session timer of one dialog, and its deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval in seconds.
    pub interval: u32,
    /// True when this side sends the refreshes.
    pub we_refresh: bool,
    refresh_at: Option<Instant>,
    expire_at: Instant,
}

impl SessionTimer {
    /// Starts (or restarts, after a refresh) the timer at `now`.
    pub fn start(now: Instant, interval: u32, we_refresh: bool) -> SessionTimer {
        let secs = Duration::from_secs(u64::from(interval));
        // RFC 4028 §10: the side that does not refresh sends BYE at the interval minus
        // the smaller of 32 seconds and a third of the interval. The refresher uses the
        // same deadline when its refreshes fail.
        let margin = Duration::from_secs(32).min(secs / 3);
        SessionTimer {
            interval,
            we_refresh,
            refresh_at: we_refresh.then(|| now + secs / 2),
            expire_at: now + secs - margin,
        }
    }

    /// The UAS side of the negotiation (RFC 4028 §9) for a request it is about to accept
    /// with 2xx: the interval and whether we refresh. `None` when neither the request nor
    /// our configuration asks for a session timer.
    pub fn negotiate_uas(req: &Request, config: &SessionTimerConfig) -> Option<(u32, bool)> {
        let uac_supports = req.headers.supported().contains(&"timer");
        match req.headers.session_expires() {
            Some(se) => {
                let interval = se.delta.max(config.min_se);
                let we_refresh = match se.refresher {
                    Some(Refresher::Uac) => false,
                    Some(Refresher::Uas) => true,
                    // The UAS chooses: the UAC when it can, else ourselves.
                    None => !uac_supports,
                };
                Some((interval, we_refresh))
            }
            None if config.enabled => Some((
                config.session_expires.max(config.min_se),
                // A UAC that supports timers refreshes; one that does not cannot.
                !uac_supports,
            )),
            None => None,
        }
    }

    /// Writes the negotiated values into our 2xx for `req` (RFC 4028 §9): Session-Expires
    /// with the refresher named from the transaction's point of view, and `Require: timer`
    /// when the UAC supports timers.
    pub fn decorate_uas_response(&self, req: &Request, resp: &mut Response) {
        let refresher = if self.we_refresh { "uas" } else { "uac" };
        resp.headers.set(
            "Session-Expires",
            format!("{};refresher={refresher}", self.interval),
        );
        if req.headers.supported().contains(&"timer") && !resp.headers.require().contains(&"timer")
        {
            resp.headers.push("Require", "timer");
        }
    }

    /// The UAC side (RFC 4028 §7.2): from the 2xx to our INVITE or UPDATE. `None` when the
    /// response carries no Session-Expires (no session timer).
    pub fn negotiate_uac(resp: &Response) -> Option<(u32, bool)> {
        let se = resp.headers.session_expires()?;
        // Below the RFC's floor the peer is wrong; a call must not end at once for it.
        let interval = se.delta.max(RFC4028_MIN_SE);
        Some((interval, se.refresher != Some(Refresher::Uas)))
    }

    /// When a refresh is due or the session expires, whichever comes first.
    pub fn next_deadline(&self) -> Instant {
        self.refresh_at
            .map_or(self.expire_at, |r| r.min(self.expire_at))
    }

    /// When the refresh is due, if we refresh and have not sent it yet.
    pub fn refresh_at(&self) -> Option<Instant> {
        self.refresh_at
    }

    /// When the session ends unless refreshed.
    pub fn expire_at(&self) -> Instant {
        self.expire_at
    }

    /// The refresh was sent: no second reminder until the session is refreshed.
    pub(crate) fn refresh_sent(&mut self) {
        self.refresh_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uac_clamps_a_session_interval_below_the_rfc_floor() {
        let mut resp = Response::new(200, "OK");
        resp.headers.push("Session-Expires", "0;refresher=uas");
        assert_eq!(SessionTimer::negotiate_uac(&resp), Some((90, false)));
    }

    #[test]
    fn deadlines_follow_rfc4028() {
        let t0 = Instant::now();
        let st = SessionTimer::start(t0, 1800, true);
        assert_eq!(st.refresh_at(), Some(t0 + Duration::from_secs(900)));
        assert_eq!(st.expire_at(), t0 + Duration::from_secs(1800 - 32));
        let st = SessionTimer::start(t0, 90, false);
        assert_eq!(st.refresh_at(), None);
        assert_eq!(st.expire_at(), t0 + Duration::from_secs(60));
        assert_eq!(st.next_deadline(), st.expire_at());
    }
}
