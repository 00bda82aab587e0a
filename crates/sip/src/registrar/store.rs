//! The binding store: contacts per address-of-record, with expiry, q-values, a cap per AOR,
//! the network source of each registration (for NAT), qualify bookkeeping and snapshots.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::transport::{Source, Transport};

/// Registrar policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest accepted registration (seconds); shorter non-zero requests get 423.
    pub min_expires: u32,
    /// Longest granted registration (seconds); longer requests are shortened to this.
    pub max_expires: u32,
    /// Granted when neither the Contact nor the request names an interval.
    pub default_expires: u32,
    /// Contacts kept per AOR. A registration that would exceed it evicts the bindings
    /// refreshed longest ago (a phone that rebooted onto a new port must not be locked out
    /// by its own stale bindings); a single request listing more than this is refused.
    pub max_contacts: usize,
    /// Interval between OPTIONS probes of each binding; `None` disables qualifying.
    pub qualify_interval: Option<Duration>,
    /// Consecutive unanswered probes after which a binding is dropped.
    pub max_missed_qualifies: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            qualify_interval: Some(Duration::from_secs(30)),
            max_missed_qualifies: 3,
        }
    }
}

/// A q-value in thousandths (`q=0.5` is `Q(500)`), RFC 3261 §20.10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q(pub u16);

impl Q {
    /// Parses `0`, `0.5`, `1.000`... (`qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`).
    pub fn parse(s: &str) -> Option<Q> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut thousandths = 0u16;
        for (i, b) in frac.bytes().enumerate() {
            thousandths += u16::from(b - b'0') * [100, 10, 1][i];
        }
        match int {
            "0" => Some(Q(thousandths)),
            "1" if thousandths == 0 => Some(Q(1000)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Q {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// One Contact of a REGISTER, as the registrar needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    /// The contact URI, printed (bindings are matched on this text).
    pub uri: String,
    pub q: Option<Q>,
    /// The Contact's `expires` parameter.
    pub expires: Option<u32>,
}

/// The Contact header field(s) of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactSet {
    /// No Contact: a query for the current bindings.
    Query,
    /// `Contact: *`: remove every binding (only valid with `Expires: 0`).
    Wildcard,
    /// Contacts to add, refresh or remove.
    List(Vec<ContactRequest>),
}

/// A REGISTER, reduced to what the binding store decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update<'a> {
    /// The address-of-record (the canonical key the caller chose, e.g. `1001`).
    pub aor: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// The request's Expires header.
    pub expires: Option<u32>,
    pub contacts: ContactSet,
    /// Where the REGISTER came from: later requests for this AOR go there.
    pub source: Source,
}

/// Why an update was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// A non-zero interval below `min_expires` (answer 423 with Min-Expires).
    #[error("registration interval too brief (minimum {min_expires} s)")]
    IntervalTooBrief { min_expires: u32 },
    /// `Contact: *` with a non-zero Expires (answer 400).
    #[error("wildcard contact requires Expires: 0")]
    InvalidWildcard,
    /// Same Call-ID as a binding with a CSeq not higher than the stored one (answer 400:
    /// RFC 3261 §10.3 step 7 says the update is aborted).
    #[error("CSeq {cseq} is not newer than the binding's")]
    OutOfOrder { cseq: u32 },
    /// One request listing more contacts than allowed per AOR (answer 403).
    #[error("too many contacts (at most {max})")]
    TooManyContacts { max: usize },
}

/// Identifies a binding for as long as it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub u64);

/// A binding as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    pub id: BindingId,
    pub aor: String,
    pub contact: String,
    pub q: Option<Q>,
    /// Seconds left until it expires (rounded up).
    pub expires_in: u32,
    pub source: Source,
    /// Whether the latest qualify probe was answered (false until the first answer).
    pub reachable: bool,
}

/// What the store asks its owner to do, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// Send an OPTIONS to `contact` via `source` (the REGISTER's source address and
    /// connection, not the Contact's host) and call [`Bindings::qualified`] with `id` when
    /// any response arrives.
    Qualify {
        id: BindingId,
        aor: String,
        contact: String,
        source: Source,
    },
    /// A new contact was bound to the AOR (not sent for refreshes).
    Bound { aor: String, contact: String },
    /// A REGISTER removed the binding (Expires 0, or `Contact: *`).
    Unbound { aor: String, contact: String },
    /// A binding ran out of time.
    Expired { aor: String, contact: String },
    /// A binding was dropped after `max_missed_qualifies` unanswered probes.
    Unreachable { aor: String, contact: String },
    /// A binding was evicted to make room under `max_contacts`.
    Evicted { aor: String, contact: String },
}

#[derive(Debug, Clone)]
struct Binding {
    id: BindingId,
    contact: String,
    q: Option<Q>,
    expires_at: Instant,
    call_id: String,
    cseq: u32,
    source: Source,
    refreshed_at: Instant,
    next_qualify: Option<Instant>,
    probe_outstanding: bool,
    missed: u32,
    reachable: bool,
    /// The key of this binding in the timer set: its earliest deadline.
    deadline: Instant,
}

impl Binding {
    fn next_deadline(&self) -> Instant {
        self.next_qualify
            .map_or(self.expires_at, |q| q.min(self.expires_at))
    }
}

/// Deadlines of all bindings, earliest first.
#[derive(Debug, Default)]
struct Timers(BTreeSet<(Instant, BindingId)>);

impl Timers {
    /// Re-files `b` under its current earliest deadline.
    fn reschedule(&mut self, b: &mut Binding) {
        self.0.remove(&(b.deadline, b.id));
        b.deadline = b.next_deadline();
        self.0.insert((b.deadline, b.id));
    }

    fn forget(&mut self, b: &Binding) {
        self.0.remove(&(b.deadline, b.id));
    }
}

/// The registrar's bindings (sans-IO: time is passed in, work comes out of
/// [`poll_event`](Bindings::poll_event)).
///
/// Driving it: after any `update`/`handle_timeout`, drain `poll_event`, and call
/// `handle_timeout` again at `poll_timeout`. Every operation costs O(log n) in the number
/// of bindings plus the AOR's own contacts; nothing scans the whole store but snapshots.
#[derive(Debug)]
pub struct Bindings {
    config: RegistrarConfig,
    aors: HashMap<String, Vec<Binding>>,
    /// Which AOR each binding belongs to.
    index: HashMap<BindingId, String>,
    timers: Timers,
    count: usize,
    next_id: u64,
    events: VecDeque<RegistrarEvent>,
}

impl Bindings {
    pub fn new(config: RegistrarConfig) -> Bindings {
        Bindings {
            config,
            aors: HashMap::new(),
            index: HashMap::new(),
            timers: Timers::default(),
            count: 0,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Applies a REGISTER (RFC 3261 §10.3 steps 6–8) and returns the AOR's bindings after
    /// it, highest q first. On error nothing changes.
    pub fn update(
        &mut self,
        now: Instant,
        update: Update<'_>,
    ) -> Result<Vec<BindingInfo>, UpdateError> {
        self.expire_aor(now, update.aor);
        let cfg = &self.config;
        match &update.contacts {
            ContactSet::Query => {}
            ContactSet::Wildcard => {
                if update.expires != Some(0) {
                    return Err(UpdateError::InvalidWildcard);
                }
                let bindings = self.aors.get(update.aor).map(Vec::as_slice).unwrap_or(&[]);
                check_order(bindings.iter(), &update)?;
                for b in self.aors.remove(update.aor).unwrap_or_default() {
                    self.forget(&b);
                    self.events.push_back(RegistrarEvent::Unbound {
                        aor: update.aor.to_owned(),
                        contact: b.contact,
                    });
                }
            }
            ContactSet::List(contacts) => {
                if contacts.len() > cfg.max_contacts {
                    return Err(UpdateError::TooManyContacts {
                        max: cfg.max_contacts,
                    });
                }
                // Validate everything first, so that a refused request changes nothing.
                let mut granted = Vec::with_capacity(contacts.len());
                for c in contacts {
                    let asked = c.expires.or(update.expires).unwrap_or(cfg.default_expires);
                    if asked != 0 && asked < cfg.min_expires {
                        return Err(UpdateError::IntervalTooBrief {
                            min_expires: cfg.min_expires,
                        });
                    }
                    granted.push(asked.min(cfg.max_expires));
                }
                let bindings = self.aors.get(update.aor).map(Vec::as_slice).unwrap_or(&[]);
                check_order(
                    bindings
                        .iter()
                        .filter(|b| contacts.iter().any(|c| same_uri(&c.uri, &b.contact))),
                    &update,
                )?;
                self.apply(now, &update, contacts, &granted);
            }
        }
        Ok(self.bindings(now, update.aor))
    }

    fn forget(&mut self, b: &Binding) {
        self.timers.forget(b);
        self.index.remove(&b.id);
        self.count -= 1;
    }

    fn apply(
        &mut self,
        now: Instant,
        update: &Update<'_>,
        contacts: &[ContactRequest],
        granted: &[u32],
    ) {
        let first_probe = self.config.qualify_interval.map(|_| now);
        let mut list = self.aors.remove(update.aor).unwrap_or_default();
        for (c, &secs) in contacts.iter().zip(granted) {
            let existing = list.iter().position(|b| same_uri(&b.contact, &c.uri));
            if secs == 0 {
                if let Some(i) = existing {
                    let b = list.remove(i);
                    self.forget(&b);
                    self.events.push_back(RegistrarEvent::Unbound {
                        aor: update.aor.to_owned(),
                        contact: b.contact,
                    });
                }
                continue;
            }
            let expires_at = now + Duration::from_secs(u64::from(secs));
            match existing {
                Some(i) => {
                    let b = &mut list[i];
                    b.q = c.q;
                    b.expires_at = expires_at;
                    b.call_id = update.call_id.to_owned();
                    b.cseq = update.cseq;
                    if b.source != update.source {
                        // The phone moved (new NAT mapping or connection): probe it again now.
                        b.source = update.source;
                        b.next_qualify = first_probe;
                        b.probe_outstanding = false;
                        b.missed = 0;
                        b.reachable = false;
                    }
                    b.refreshed_at = now;
                    self.timers.reschedule(b);
                }
                None => {
                    let id = BindingId(self.next_id);
                    self.next_id += 1;
                    let mut b = Binding {
                        id,
                        contact: c.uri.clone(),
                        q: c.q,
                        expires_at,
                        call_id: update.call_id.to_owned(),
                        cseq: update.cseq,
                        source: update.source,
                        refreshed_at: now,
                        next_qualify: first_probe,
                        probe_outstanding: false,
                        missed: 0,
                        reachable: false,
                        deadline: expires_at,
                    };
                    self.timers.reschedule(&mut b);
                    self.index.insert(id, update.aor.to_owned());
                    self.count += 1;
                    self.events.push_back(RegistrarEvent::Bound {
                        aor: update.aor.to_owned(),
                        contact: c.uri.clone(),
                    });
                    list.push(b);
                }
            }
        }
        while list.len() > self.config.max_contacts {
            let oldest = list
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| (b.refreshed_at, b.id))
                .map(|(i, _)| i)
                .expect("list is longer than max_contacts, so not empty");
            let b = list.remove(oldest);
            self.forget(&b);
            self.events.push_back(RegistrarEvent::Evicted {
                aor: update.aor.to_owned(),
                contact: b.contact,
            });
        }
        if !list.is_empty() {
            self.aors.insert(update.aor.to_owned(), list);
        }
    }

    /// The AOR's current bindings, highest q first (no q counts as 1.0), then in the
    /// order they were first registered.
    pub fn bindings(&self, now: Instant, aor: &str) -> Vec<BindingInfo> {
        let mut out: Vec<BindingInfo> = self
            .aors
            .get(aor)
            .into_iter()
            .flatten()
            .filter(|b| b.expires_at > now)
            .map(|b| info(now, aor, b))
            .collect();
        out.sort_by_key(|b| std::cmp::Reverse(b.q.unwrap_or(Q(1000))));
        out
    }

    /// Every AOR with at least one binding (in no particular order).
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.aors.keys().map(String::as_str)
    }

    /// Number of bindings over all AORs.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records an answer to the probe of binding `id`. Returns its AOR and contact when the
    /// binding exists (it may have been removed meanwhile).
    pub fn qualified(&mut self, _now: Instant, id: BindingId) -> Option<(String, String)> {
        let aor = self.index.get(&id)?;
        let b = self.aors.get_mut(aor)?.iter_mut().find(|b| b.id == id)?;
        b.probe_outstanding = false;
        b.missed = 0;
        b.reachable = true;
        Some((aor.clone(), b.contact.clone()))
    }

    /// A stream connection closed: bindings registered over it keep their address but lose
    /// the connection (a later request must open a new one).
    pub fn connection_closed(&mut self, conn: crate::transport::ConnId) {
        // Connections close far less often than messages arrive: a scan is fine here.
        for b in self.aors.values_mut().flatten() {
            if b.source.conn == Some(conn) {
                b.source.conn = None;
            }
        }
    }

    /// The next instant at which [`handle_timeout`](Bindings::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.0.first().map(|(at, _)| *at)
    }

    /// Expires bindings and schedules qualify probes due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.0.first() {
            if at > now {
                break;
            }
            self.timers.0.pop_first();
            let Some(aor) = self.index.get(&id).cloned() else {
                continue;
            };
            self.due(now, &aor, id);
        }
    }

    /// Binding `id` of `aor` has reached its deadline (already taken off the timer set).
    fn due(&mut self, now: Instant, aor: &str, id: BindingId) {
        let Some(list) = self.aors.get_mut(aor) else {
            return;
        };
        let Some(i) = list.iter().position(|b| b.id == id) else {
            return;
        };
        let b = &mut list[i];
        let verdict = if b.expires_at <= now {
            Some(RegistrarEvent::Expired {
                aor: aor.to_owned(),
                contact: b.contact.clone(),
            })
        } else if let (Some(interval), Some(_)) = (self.config.qualify_interval, b.next_qualify) {
            if b.probe_outstanding {
                b.missed += 1;
                b.reachable = false;
            }
            if b.missed >= self.config.max_missed_qualifies {
                Some(RegistrarEvent::Unreachable {
                    aor: aor.to_owned(),
                    contact: b.contact.clone(),
                })
            } else {
                b.probe_outstanding = true;
                b.next_qualify = Some(now + interval);
                self.events.push_back(RegistrarEvent::Qualify {
                    id: b.id,
                    aor: aor.to_owned(),
                    contact: b.contact.clone(),
                    source: b.source,
                });
                None
            }
        } else {
            None
        };
        match verdict {
            Some(event) => {
                let b = list.remove(i);
                if list.is_empty() {
                    self.aors.remove(aor);
                }
                // Already off the timer set.
                self.index.remove(&b.id);
                self.count -= 1;
                self.events.push_back(event);
            }
            None => {
                b.deadline = b.next_deadline();
                self.timers.0.insert((b.deadline, b.id));
            }
        }
    }

    /// Removes the AOR's expired bindings (the rest of the store expires through
    /// `handle_timeout`).
    fn expire_aor(&mut self, now: Instant, aor: &str) {
        let Some(list) = self.aors.get_mut(aor) else {
            return;
        };
        let (gone, kept): (Vec<Binding>, Vec<Binding>) = std::mem::take(list)
            .into_iter()
            .partition(|b| b.expires_at <= now);
        *list = kept;
        if list.is_empty() {
            self.aors.remove(aor);
        }
        for b in gone {
            self.forget(&b);
            self.events.push_back(RegistrarEvent::Expired {
                aor: aor.to_owned(),
                contact: b.contact,
            });
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    /// A copy of every live binding, for persistence, sorted by AOR. Connections are not
    /// kept (they do not survive a restart).
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut bindings: Vec<SavedBinding> = self
            .aors
            .iter()
            .flat_map(|(aor, list)| list.iter().map(move |b| (aor, b)))
            .filter(|(_, b)| b.expires_at > now)
            .map(|(aor, b)| SavedBinding {
                aor: aor.clone(),
                contact: b.contact.clone(),
                q: b.q,
                expires_in: remaining_secs(now, b.expires_at),
                call_id: b.call_id.clone(),
                cseq: b.cseq,
                transport: b.source.transport,
                remote: b.source.remote,
                local: b.source.local,
            })
            .collect();
        bindings.sort_by(|a, b| a.aor.cmp(&b.aor));
        Snapshot { bindings }
    }

    /// Loads a snapshot taken `elapsed` ago (bindings that ran out meanwhile are skipped).
    /// Bindings already present for the same AOR and contact are kept.
    pub fn restore(&mut self, now: Instant, snapshot: Snapshot, elapsed: Duration) {
        let first_probe = self.config.qualify_interval.map(|_| now);
        for s in snapshot.bindings {
            let Some(left) = Duration::from_secs(u64::from(s.expires_in)).checked_sub(elapsed)
            else {
                continue;
            };
            if left.is_zero() {
                continue;
            }
            let list = self.aors.entry(s.aor.clone()).or_default();
            if list.iter().any(|b| same_uri(&b.contact, &s.contact))
                || list.len() >= self.config.max_contacts
            {
                continue;
            }
            let id = BindingId(self.next_id);
            self.next_id += 1;
            let mut b = Binding {
                id,
                contact: s.contact,
                q: s.q,
                expires_at: now + left,
                call_id: s.call_id,
                cseq: s.cseq,
                source: Source {
                    transport: s.transport,
                    remote: s.remote,
                    local: s.local,
                    conn: None,
                },
                refreshed_at: now,
                next_qualify: first_probe,
                probe_outstanding: false,
                missed: 0,
                reachable: false,
                deadline: now,
            };
            self.timers.reschedule(&mut b);
            list.push(b);
            self.index.insert(id, s.aor);
            self.count += 1;
        }
    }
}

fn check_order<'b>(
    mut bindings: impl Iterator<Item = &'b Binding>,
    update: &Update<'_>,
) -> Result<(), UpdateError> {
    if bindings.any(|b| b.call_id == update.call_id && update.cseq <= b.cseq) {
        return Err(UpdateError::OutOfOrder { cseq: update.cseq });
    }
    Ok(())
}

fn remaining_secs(now: Instant, at: Instant) -> u32 {
    let d = at.saturating_duration_since(now);
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn info(now: Instant, aor: &str, b: &Binding) -> BindingInfo {
    BindingInfo {
        id: b.id,
        aor: aor.to_owned(),
        contact: b.contact.clone(),
        q: b.q,
        expires_in: remaining_secs(now, b.expires_at),
        source: b.source,
        reachable: b.reachable,
    }
}

/// Bindings saved for a restart (serde-friendly).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub bindings: Vec<SavedBinding>,
}

/// One saved binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBinding {
    pub aor: String,
    pub contact: String,
    pub q: Option<Q>,
    /// Seconds it had left when saved.
    pub expires_in: u32,
    pub call_id: String,
    pub cseq: u32,
    pub transport: Transport,
    pub remote: SocketAddr,
    pub local: SocketAddr,
}

/// Whether two Contact URIs name the same binding, by RFC 3261 §19.1.4 URI comparison
/// (§10.3 step 7): same scheme, user, password and port; the host compared without case;
/// the `user`, `ttl`, `method`, `maddr` and `transport` parameters equal where either URI
/// has them, any other parameter equal where both have it; the same headers. Values are
/// compared without case; escapes are compared as written.
pub(crate) fn same_uri(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (Ok(x), Ok(y)) = (crate::Uri::parse(a), crate::Uri::parse(b)) else {
        return false;
    };
    let host_eq = match (x.host_str(), y.host_str()) {
        (Some(h), Some(k)) => h.eq_ignore_ascii_case(k),
        (h, k) => h == k,
    };
    if x.scheme() != y.scheme()
        || x.user() != y.user()
        || x.password() != y.password()
        || x.port() != y.port()
        || !host_eq
        || x.headers() != y.headers()
    {
        return false;
    }
    fn find<'u>(u: &'u crate::Uri, name: &str) -> Option<&'u str> {
        u.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }
    let value_eq = |p: &str, q: &str| p.eq_ignore_ascii_case(q);
    for (name, _) in x.params().chain(y.params()) {
        let must_match = ["user", "ttl", "method", "maddr", "transport"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name));
        match (find(&x, name), find(&y, name)) {
            (Some(p), Some(q)) if !value_eq(p, q) => return false,
            (Some(_), None) | (None, Some(_)) if must_match => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests;
