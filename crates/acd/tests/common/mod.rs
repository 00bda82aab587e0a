//! A small harness: a distributor on simulated time, with its actions collected.

#![allow(dead_code, unreachable_pub, clippy::new_without_default)]

use std::time::Duration;

use switchyard_acd::{
    Acd, AcdConfig, Action, AgentConfig, AgentId, CallId, CancelReason, Enqueue, Event,
    QueueConfig, QueueId, SkillId, SkillReq,
};

pub struct H {
    pub acd: Acd,
    pub now: Duration,
    pub out: Vec<Action>,
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl H {
    pub fn new() -> Self {
        Self::with(AcdConfig::default())
    }

    pub fn with(cfg: AcdConfig) -> Self {
        Self {
            acd: Acd::new(cfg),
            now: Duration::ZERO,
            out: Vec::new(),
        }
    }

    pub fn skill(&mut self, name: &str) -> SkillId {
        self.acd.skill(name)
    }

    pub fn queue(&mut self, cfg: QueueConfig) -> QueueId {
        self.acd.add_queue(cfg).unwrap()
    }

    /// A queue needing `skill` at level 1, with no announcements and no wrap-up.
    pub fn simple_queue(&mut self, name: &str, skill: SkillId) -> QueueConfig {
        let mut q = QueueConfig::new(name, vec![SkillReq::new(skill, 1)]);
        q.announce_interval = None;
        q.wrap_up = Duration::ZERO;
        q
    }

    /// Adds an agent and logs them in.
    pub fn agent(&mut self, name: &str, skills: &[(SkillId, u8)]) -> AgentId {
        let a = self
            .acd
            .add_agent(AgentConfig::new(name, skills.to_vec()))
            .unwrap();
        self.ev(Event::AgentLogin(a));
        a
    }

    pub fn ev(&mut self, e: Event) {
        self.acd.handle_event(self.now, e).unwrap();
        self.drain();
    }

    pub fn try_ev(&mut self, e: Event) -> Result<(), switchyard_acd::AcdError> {
        let r = self.acd.handle_event(self.now, e);
        self.drain();
        r
    }

    pub fn call(&mut self, id: u64, queue: QueueId) -> CallId {
        self.enqueue(Enqueue::new(CallId(id), queue))
    }

    pub fn enqueue(&mut self, e: Enqueue) -> CallId {
        let id = e.call;
        self.ev(Event::CallEnqueued(e));
        id
    }

    /// Moves the clock forward, firing every deadline on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.acd.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.acd.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    pub fn drain(&mut self) {
        while let Some(a) = self.acd.poll_action() {
            self.out.push(a);
        }
    }

    pub fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Offers made since the last `take`, as (call, agents).
    pub fn offers(&self) -> Vec<(CallId, Vec<AgentId>)> {
        self.out
            .iter()
            .filter_map(|a| match a {
                Action::Offer { call, agents, .. } => Some((*call, agents.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn cancels(&self) -> Vec<(CallId, AgentId, CancelReason)> {
        self.out
            .iter()
            .filter_map(|a| match a {
                Action::CancelOffer {
                    call,
                    agent,
                    reason,
                } => Some((*call, *agent, *reason)),
                _ => None,
            })
            .collect()
    }

    /// The single agent the last offer went to.
    pub fn last_offer(&self) -> (CallId, AgentId) {
        let (c, a) = self.offers().last().cloned().expect("an offer");
        assert_eq!(a.len(), 1, "one agent");
        (c, a[0])
    }
}
