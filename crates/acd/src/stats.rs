//! Statistics per queue and per agent, live and in fixed intervals (15 minutes by default).
//!
//! Definitions (also in `docs/acd.md`):
//! - *offered*: callers who entered the queue;
//! - *answered*: callers connected to an agent; *in service level* when they waited at most
//!   the queue's threshold;
//! - *abandoned*: callers who hung up while waiting or ringing after at least the short-abandon
//!   threshold; *short abandons* (quicker hang-ups) are counted apart and left out of service level;
//! - service level, abandons counted: `answered_in_sl / (answered + abandoned)`;
//! - service level, answered only: `answered_in_sl / answered`;
//! - ASA: total wait of answered calls ÷ answered; AHT: talk per completed call + wrap-up per
//!   wrap-up; occupancy: (talk + wrap-up) ÷ staffed time.
//!
//! Events count in the interval in which they happen (a call entering at 09:14 and answered
//! at 09:16 is offered in the 09:00 interval and answered in the 09:15 one).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::event::ExitReason;
use crate::log::{LogKind, NoAnswerKind, QueueLogEntry};
use crate::types::{AgentId, QueueId, Time};

/// Counters for one queue over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Callers who entered.
    pub offered: u64,
    /// Callers connected to an agent.
    pub answered: u64,
    /// Of those, answered within the service-level threshold.
    pub answered_in_sl: u64,
    /// Callers who hung up unanswered after the short-abandon threshold.
    pub abandoned: u64,
    /// Of those, hung up within the service-level threshold.
    pub abandoned_in_sl: u64,
    /// Callers who hung up before the short-abandon threshold.
    pub short_abandoned: u64,
    /// Left at the maximum wait.
    pub exit_timeout: u64,
    /// Turned away from a full queue.
    pub exit_full: u64,
    /// Left because no agent was logged in.
    pub exit_empty: u64,
    /// Left by pressing a key.
    pub exit_key: u64,
    /// Callers who accepted a callback.
    pub callbacks: u64,
    /// Total wait of answered calls.
    pub answered_wait: Duration,
    /// Longest wait of any caller who left the queue (answered or not).
    pub longest_wait: Duration,
    /// Connected calls that ended (completed or transferred).
    pub completed: u64,
    /// Total talk time of completed calls.
    pub talk: Duration,
    /// Wrap-ups that ended after this queue's calls.
    pub wrap_ups: u64,
    /// Total wrap-up time after this queue's calls.
    pub wrap: Duration,
    /// Agent-time during which agents eligible for the queue were logged in and not paused.
    pub staffed: Duration,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn avg(total: Duration, n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_nanos((total.as_nanos() / u128::from(n)) as u64))
}

impl QueueStats {
    /// Service level with abandons counted against it:
    /// `answered_in_sl / (answered + abandoned)` (short abandons excluded).
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_in_sl, self.answered + self.abandoned)
    }

    /// Service level over answered calls only: `answered_in_sl / answered`.
    pub fn service_level_answered(&self) -> Option<f64> {
        ratio(self.answered_in_sl, self.answered)
    }

    /// Average speed of answer.
    pub fn asa(&self) -> Option<Duration> {
        avg(self.answered_wait, self.answered)
    }

    /// Average handle time: talk per completed call plus wrap-up per wrap-up.
    pub fn aht(&self) -> Option<Duration> {
        let talk = avg(self.talk, self.completed)?;
        Some(talk + avg(self.wrap, self.wrap_ups).unwrap_or_default())
    }

    /// Occupancy: (talk + wrap-up) ÷ staffed agent-time. With agents shared between queues
    /// it is a lower bound, since their staffed time counts in full for every queue.
    pub fn occupancy(&self) -> Option<f64> {
        (!self.staffed.is_zero())
            .then(|| (self.talk + self.wrap).as_secs_f64() / self.staffed.as_secs_f64())
    }

    /// Abandon rate: abandoned ÷ (answered + abandoned).
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(self.abandoned, self.answered + self.abandoned)
    }

    /// The same counters without the time integrals that the log cannot reproduce
    /// (`staffed`), for comparing with [`recount`].
    pub fn without_staffed(&self) -> QueueStats {
        QueueStats {
            staffed: Duration::ZERO,
            ..self.clone()
        }
    }
}

/// Counters for one agent over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Offers made (phone rang).
    pub offered: u64,
    /// Calls answered.
    pub answered: u64,
    /// Offers not answered (including ring timeouts).
    pub no_answer: u64,
    /// Offers met with busy.
    pub busy: u64,
    /// Offers declined.
    pub rejected: u64,
    /// Time available.
    pub available: Duration,
    /// Time ringing.
    pub reserved: Duration,
    /// Time on calls.
    pub on_call: Duration,
    /// Time in wrap-up.
    pub wrap_up: Duration,
    /// Time paused.
    pub paused: Duration,
}

impl AgentStats {
    /// Occupancy: (on call + wrap-up) ÷ (on call + wrap-up + available + ringing).
    pub fn occupancy(&self) -> Option<f64> {
        let busy = self.on_call + self.wrap_up;
        let total = busy + self.available + self.reserved;
        (!total.is_zero()).then(|| busy.as_secs_f64() / total.as_secs_f64())
    }

    /// Counters only (no time in state), for comparing with [`recount`].
    pub fn counters(&self) -> AgentStats {
        AgentStats {
            offered: self.offered,
            answered: self.answered,
            no_answer: self.no_answer,
            busy: self.busy,
            rejected: self.rejected,
            ..AgentStats::default()
        }
    }
}

/// Live agent counts by state (for a queue: agents meeting its base requirements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentsByState {
    /// Available (and their phone registered).
    pub available: u32,
    /// Ringing.
    pub reserved: u32,
    /// On a call.
    pub on_call: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Paused.
    pub paused: u32,
    /// Logged in but their phone is not registered, or backing off after a busy.
    pub unreachable: u32,
}

/// A live view of a queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueLive {
    /// Callers waiting (not ringing).
    pub waiting: u32,
    /// Callers whose offer is ringing.
    pub ringing: u32,
    /// Callers connected.
    pub connected: u32,
    /// The longest current wait among waiting callers.
    pub longest_waiting: Duration,
    /// Agents by state.
    pub agents: AgentsByState,
    /// The queue's service-level target (0–1), to compare with `totals.service_level()`.
    pub sl_target: f64,
    /// Counters since the start.
    pub totals: QueueStats,
}

/// Counters kept in total and per interval.
#[derive(Debug, Clone)]
pub struct Intervals<T> {
    len: Duration,
    total: T,
    by_index: BTreeMap<u64, T>,
}

impl<T: Default> Intervals<T> {
    pub(crate) fn new(len: Duration) -> Self {
        Self {
            len: len.max(Duration::from_secs(1)),
            total: T::default(),
            by_index: BTreeMap::new(),
        }
    }

    fn index(&self, t: Time) -> u64 {
        (t.as_nanos() / self.len.as_nanos()) as u64
    }

    fn start_of(&self, i: u64) -> Time {
        let ns = self.len.as_nanos().saturating_mul(u128::from(i));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Applies `f` to the total and to the interval holding `now`.
    pub(crate) fn record(&mut self, now: Time, f: impl Fn(&mut T)) {
        f(&mut self.total);
        let i = self.index(now);
        f(self.by_index.entry(i).or_default());
    }

    /// Applies `f(counters, part)` for each interval overlapping `[from, to)`, with the part
    /// of the span inside it, and once to the total with the whole span.
    pub(crate) fn record_span(&mut self, from: Time, to: Time, f: impl Fn(&mut T, Duration)) {
        if to <= from {
            return;
        }
        f(&mut self.total, to - from);
        let mut start = from;
        while start < to {
            let i = self.index(start);
            let end = self.start_of(i.saturating_add(1)).min(to);
            let end = if end <= start { to } else { end };
            f(self.by_index.entry(i).or_default(), end - start);
            start = end;
        }
    }

    /// Counters since the start.
    pub fn total(&self) -> &T {
        &self.total
    }

    /// Intervals with activity: (interval start, counters), oldest first.
    pub fn intervals(&self) -> impl Iterator<Item = (Time, &T)> + '_ {
        self.by_index.iter().map(|(i, s)| (self.start_of(*i), s))
    }

    /// Removes and returns the intervals that start before `before` (for storage).
    pub fn drain_before(&mut self, before: Time) -> Vec<(Time, T)> {
        let keep = self.by_index.split_off(&self.index(before));
        let old = std::mem::replace(&mut self.by_index, keep);
        old.into_iter()
            .map(|(i, s)| (self.start_of(i), s))
            .collect()
    }
}

/// Settings [`recount`] needs to classify log entries as the distributor did.
#[derive(Debug, Clone, Copy)]
pub struct RecountRules<'a> {
    /// Service-level threshold per queue (indexed by `QueueId.0`).
    pub sl_threshold: &'a [Duration],
    /// The short-abandon threshold.
    pub short_abandon: Duration,
    /// The statistics interval.
    pub interval: Duration,
}

/// Counters rebuilt from a queue event log: totals and per interval (keyed by interval start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recount {
    /// Per queue, in total.
    pub queues: BTreeMap<QueueId, QueueStats>,
    /// Per queue and interval.
    pub queue_intervals: BTreeMap<(QueueId, Time), QueueStats>,
    /// Per agent (counters only), in total.
    pub agents: BTreeMap<AgentId, AgentStats>,
    /// Per agent and interval.
    pub agent_intervals: BTreeMap<(AgentId, Time), AgentStats>,
}

fn recount_agent(s: &mut AgentStats, kind: &LogKind) {
    match kind {
        LogKind::Offer => s.offered += 1,
        LogKind::Connect { .. } => s.answered += 1,
        LogKind::RingNoAnswer { outcome, .. } => match outcome {
            NoAnswerKind::NoAnswer => s.no_answer += 1,
            NoAnswerKind::Busy => s.busy += 1,
            NoAnswerKind::Rejected => s.rejected += 1,
        },
        _ => {}
    }
}

fn recount_queue(s: &mut QueueStats, kind: &LogKind, threshold: Duration, short: Duration) {
    match kind {
        LogKind::Enter { .. } => s.offered += 1,
        LogKind::Connect { wait, .. } => {
            s.answered += 1;
            s.answered_in_sl += u64::from(*wait <= threshold);
            s.answered_wait += *wait;
            s.longest_wait = s.longest_wait.max(*wait);
        }
        LogKind::Abandon { wait, .. } => {
            if *wait < short {
                s.short_abandoned += 1;
            } else {
                s.abandoned += 1;
                s.abandoned_in_sl += u64::from(*wait <= threshold);
            }
            s.longest_wait = s.longest_wait.max(*wait);
        }
        LogKind::Exit { reason, wait, .. } => {
            match reason {
                ExitReason::Timeout => s.exit_timeout += 1,
                ExitReason::Full => s.exit_full += 1,
                ExitReason::Empty => s.exit_empty += 1,
                ExitReason::Key => s.exit_key += 1,
            }
            s.longest_wait = s.longest_wait.max(*wait);
        }
        LogKind::Complete { talk, .. } | LogKind::Transfer { talk, .. } => {
            s.completed += 1;
            s.talk += *talk;
        }
        LogKind::WrapUpEnd { wrap } => {
            s.wrap_ups += 1;
            s.wrap += *wrap;
        }
        LogKind::CallbackAccepted => s.callbacks += 1,
        _ => {}
    }
}

/// Queue and agent counters rebuilt from a queue event log alone (for example after a restart,
/// or to audit the live counters). Time in state and staffed time are not in the log and are
/// left at zero.
pub fn recount(log: &[QueueLogEntry], rules: RecountRules<'_>) -> Recount {
    let mut out = Recount::default();
    let len = rules.interval.max(Duration::from_secs(1));
    for e in log {
        let ns = e.time.as_nanos() / len.as_nanos() * len.as_nanos();
        let start = Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        if let Some(a) = e.agent {
            recount_agent(out.agents.entry(a).or_default(), &e.kind);
            recount_agent(out.agent_intervals.entry((a, start)).or_default(), &e.kind);
        }
        let Some(q) = e.queue else { continue };
        let threshold = rules
            .sl_threshold
            .get(q.0 as usize)
            .copied()
            .unwrap_or_default();
        let short = rules.short_abandon;
        recount_queue(out.queues.entry(q).or_default(), &e.kind, threshold, short);
        let per = out.queue_intervals.entry((q, start)).or_default();
        recount_queue(per, &e.kind, threshold, short);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_at_interval_boundaries() {
        let mut iv: Intervals<Duration> = Intervals::new(Duration::from_secs(900));
        iv.record_span(
            Duration::from_secs(800),
            Duration::from_secs(2000),
            |t, d| *t += d,
        );
        let parts: Vec<_> = iv
            .intervals()
            .map(|(s, d)| (s.as_secs(), d.as_secs()))
            .collect();
        assert_eq!(parts, vec![(0, 100), (900, 900), (1800, 200)]);
        assert_eq!(iv.total().as_secs(), 1200);
        let old = iv.drain_before(Duration::from_secs(1800));
        assert_eq!(old.len(), 2);
        assert_eq!(iv.intervals().count(), 1);
    }

    #[test]
    fn service_level_definitions_differ_by_abandons() {
        let s = QueueStats {
            answered: 8,
            answered_in_sl: 6,
            abandoned: 2,
            ..Default::default()
        };
        assert_eq!(s.service_level(), Some(0.6));
        assert_eq!(s.service_level_answered(), Some(0.75));
        assert_eq!(QueueStats::default().service_level(), None);
    }
}
