//! Requirement classes: calls with the same queue and the same requirements (after
//! escalation) share a class, with one bitset of the agents who qualify and one ordered
//! list of waiting calls. Routing looks at class heads, never at every call.

use std::collections::BTreeMap;

use super::{Acd, WaitKey};
use crate::bitset::BitSet;
use crate::types::{QueueId, SkillId, SkillReq};

/// Requirements in disjunctive normal form: an agent qualifies if they meet every
/// requirement of at least one alternative.
pub(crate) type Dnf = Vec<Vec<SkillReq>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey {
    queue: QueueId,
    dnf: Dnf,
}

#[derive(Debug)]
pub(crate) struct Class {
    pub(crate) dnf: Dnf,
    /// Agents whose skills meet the requirements (whatever their state).
    pub(crate) eligible: BitSet,
    pub(crate) waiting: BTreeMap<WaitKey, u32>,
    /// Index in `Acd::nonempty` while `waiting` is not empty.
    pub(crate) nonempty_pos: Option<usize>,
}

impl Class {
    pub(crate) fn matches(&self, skills: &[(SkillId, u8)]) -> bool {
        dnf_matches(&self.dnf, skills)
    }
}

pub(crate) fn dnf_matches(dnf: &Dnf, skills: &[(SkillId, u8)]) -> bool {
    dnf.iter().any(|conj| {
        conj.iter().all(|r| {
            skills
                .iter()
                .any(|(s, l)| *s == r.skill && *l >= r.min_level.max(1))
        })
    })
}

/// Merges requirements on the same skill (keeping the highest level) and sorts them.
fn normalise(mut conj: Vec<SkillReq>) -> Vec<SkillReq> {
    for r in &mut conj {
        r.min_level = r.min_level.clamp(1, crate::types::MAX_SKILL_LEVEL);
    }
    conj.sort_by_key(|r| (r.skill, std::cmp::Reverse(r.min_level)));
    conj.dedup_by_key(|r| r.skill);
    conj
}

impl Acd {
    /// The requirements of a call in `queue` with `extra` skills and `language`, after
    /// `step` escalation steps.
    pub(crate) fn requirements(
        &self,
        queue: QueueId,
        extra: &[SkillReq],
        language: Option<crate::types::SkillId>,
        step: usize,
    ) -> Dnf {
        let q = &self.queues[queue.0 as usize].cfg;
        let lang = language.map(|l| SkillReq::new(l, 1));
        let steps = &q.escalation[..step.min(q.escalation.len())];
        let lower: u8 = steps
            .iter()
            .fold(0u8, |acc, s| acc.saturating_add(s.lower_min_level));
        let lowered = |reqs: &[SkillReq]| -> Vec<SkillReq> {
            reqs.iter()
                .map(|r| SkillReq::new(r.skill, r.min_level.saturating_sub(lower).max(1)))
                .collect()
        };
        let mut base: Vec<SkillReq> = lowered(&q.skills);
        base.extend(lowered(extra));
        base.extend(lang);
        let mut dnf = vec![normalise(base)];
        for s in steps {
            if !s.add_skills.is_empty() {
                let mut alt = lowered(&s.add_skills);
                alt.extend(lang);
                dnf.push(normalise(alt));
            }
            for other in &s.add_queues {
                let mut alt = lowered(&self.queues[other.0 as usize].cfg.skills);
                alt.extend(lang);
                dnf.push(normalise(alt));
            }
        }
        dnf.sort();
        dnf.dedup();
        dnf
    }

    /// The class for these requirements, created on first use.
    pub(crate) fn class_for(
        &mut self,
        queue: QueueId,
        extra: &[SkillReq],
        language: Option<crate::types::SkillId>,
        step: usize,
    ) -> u32 {
        let dnf = self.requirements(queue, extra, language, step);
        let key = ClassKey { queue, dnf };
        if let Some(c) = self.class_by_key.get(&key) {
            return *c;
        }
        let n = self.agents.len();
        let mut eligible = BitSet::with_capacity(n);
        for conj in &key.dnf {
            let mut set = BitSet::with_capacity(n);
            for a in 0..n {
                set.insert(a);
            }
            for r in conj {
                match self.skill_ge.get(r.skill.0 as usize) {
                    Some(levels) => set.intersect_with(&levels[(r.min_level.max(1) - 1) as usize]),
                    None => set.clear(),
                }
            }
            eligible.union_with(&set);
        }
        let id = self.classes.len() as u32;
        for a in eligible.iter() {
            self.agent_classes[a].push(id);
        }
        self.classes.push(Class {
            dnf: key.dnf.clone(),
            eligible,
            waiting: BTreeMap::new(),
            nonempty_pos: None,
        });
        self.class_by_key.insert(key, id);
        id
    }

    pub(crate) fn class_insert(&mut self, class: u32, key: WaitKey, slot: u32) {
        let c = &mut self.classes[class as usize];
        c.waiting.insert(key, slot);
        if c.nonempty_pos.is_none() {
            c.nonempty_pos = Some(self.nonempty.len());
            self.nonempty.push(class);
        }
    }

    pub(crate) fn class_remove(&mut self, class: u32, key: WaitKey) {
        let c = &mut self.classes[class as usize];
        c.waiting.remove(&key);
        if c.waiting.is_empty()
            && let Some(pos) = c.nonempty_pos.take()
        {
            self.nonempty.swap_remove(pos);
            if let Some(moved) = self.nonempty.get(pos) {
                self.classes[*moved as usize].nonempty_pos = Some(pos);
            }
        }
    }
}
