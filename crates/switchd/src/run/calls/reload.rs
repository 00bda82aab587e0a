//! Reloading the configuration while calls go on: queues, agents, phones, trunks and
//! dialplans change for what comes next; calls in progress keep their dialplan and legs.

use std::time::Instant;

use switchyard_acd::Acd;

use super::legs::Sip;
use super::*;
use crate::api::{ApiError, ReloadView};

/// Adds the configuration's queues to the distributor, or updates those it has (waiting
/// callers keep their place), then sets every queue's overflow targets.
pub(crate) fn apply_queues(
    acd: &mut Acd,
    now: acd::Time,
    queues: &[config::Queue],
    names: &mut HashMap<acd::QueueId, String>,
) -> anyhow::Result<()> {
    for q in queues {
        let skills = q
            .skills
            .iter()
            .map(|(s, l)| acd::SkillReq {
                skill: acd.skill(s),
                min_level: *l,
            })
            .collect();
        let mut qc = acd::QueueConfig::new(q.name.clone(), skills);
        qc.strategy = q.strategy;
        qc.ring_timeout = q.ring_timeout;
        qc.wrap_up = q.wrap_up;
        qc.max_wait = q.max_wait;
        qc.max_length = q.max_length;
        qc.announce_interval = q.announce_every;
        qc.sl_threshold = q.sl_threshold;
        qc.sl_target = q.sl_target;
        match acd.queue_id(&q.name) {
            Some(id) => {
                if let Some(old) = acd.queue_config(id) {
                    qc.overflow = old.overflow.clone();
                }
                acd.update_queue(now, id, qc)
                    .map_err(|e| anyhow::anyhow!("queue {}: {e}", q.name))?;
            }
            None => {
                let id = acd
                    .add_queue(qc)
                    .map_err(|e| anyhow::anyhow!("queue {}: {e}", q.name))?;
                names.insert(id, q.name.clone());
            }
        }
    }
    // Overflow targets may name queues defined later: set them once all exist.
    for q in queues {
        let Some(id) = acd.queue_id(&q.name) else {
            continue;
        };
        let target = |o: &config::Overflow, acd: &Acd| match o {
            config::Overflow::Dialplan => acd::OverflowTarget::Dialplan,
            config::Overflow::Voicemail(m) => acd::OverflowTarget::Voicemail(m.clone()),
            config::Overflow::Queue(n) => acd
                .queue_id(n)
                .map_or(acd::OverflowTarget::Dialplan, acd::OverflowTarget::Queue),
            config::Overflow::Number { number, trunk } => {
                acd::OverflowTarget::External(format!("{number}@{trunk}"))
            }
        };
        let mut qc = acd.queue_config(id).cloned().expect("queue added above");
        qc.overflow = acd::OverflowRules {
            on_max_wait: target(&q.on_max_wait, acd),
            on_full: target(&q.on_full, acd),
            on_no_agents: q.on_no_agents.as_ref().map(|o| target(o, acd)),
        };
        acd.update_queue(now, id, qc)
            .map_err(|e| anyhow::anyhow!("queue {}: {e}", q.name))?;
    }
    Ok(())
}

fn err(status: u16, error: String) -> ApiError {
    ApiError { status, error }
}

impl Calls {
    /// Reloads the configuration file the daemon runs (SIGHUP, `POST /api/v1/reload`);
    /// without one (the demo), the dialplans only. A file with errors is refused and the
    /// running configuration stays.
    pub(crate) fn reload(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
    ) -> Result<ReloadView, ApiError> {
        let Some(path) = self.config.source.clone() else {
            return self.reload_dialplans();
        };
        let new = config::load(&path).map_err(|errors| err(422, config::render_errors(&errors)))?;
        self.apply_config(sip, now, new)
    }

    /// Applies a new configuration. Addresses, ports and storage need a restart (a
    /// warning says which); everything else takes effect for what comes next.
    pub(crate) fn apply_config(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        mut new: Config,
    ) -> Result<ReloadView, ApiError> {
        let acd_now = self.acd_now(now);
        let old = self.config.clone();
        // What the daemon bound at start stays (its command-line overrides included).
        let kept: Vec<&str> = [
            (
                "[sip] listen and domain",
                old.sip.listen != new.sip.listen || old.sip.domain != new.sip.domain,
            ),
            ("[rtp]", old.rtp != new.rtp),
            ("[http]", old.http != new.http),
            ("[storage]", old.storage != new.storage),
        ]
        .into_iter()
        .filter_map(|(what, changed)| changed.then_some(what))
        .collect();
        if !kept.is_empty() {
            tracing::warn!(
                "the reload keeps {} as the daemon started with them (from the file or the \
                 command line): a restart applies the file's",
                kept.join(", ")
            );
        }
        new.sip.listen = old.sip.listen.clone();
        new.sip.domain = old.sip.domain.clone();
        new.rtp = old.rtp.clone();
        new.http = old.http.clone();
        new.storage = old.storage.clone();
        // Dialplans first: a new plan that fails its check refuses the whole reload.
        let known = new.known();
        let mut slots = HashMap::new();
        for t in &new.trunks {
            let Some(ib) = &t.inbound else { continue };
            let source = std::fs::read_to_string(&ib.dialplan)
                .map_err(|e| err(500, format!("reading {}: {e}", ib.dialplan.display())))?;
            let base = ib.dialplan.parent().unwrap_or(Path::new("."));
            let exists = |p: &Path| p.is_file();
            let env = ivr::Env {
                base_dir: base,
                prompt_exists: Some(&exists),
                known: Some(&known),
            };
            let plan = ivr::compile(&ib.dialplan.display().to_string(), &source, &env)
                .map_err(|d| err(422, d.to_string()))?;
            slots.insert(t.name.clone(), plan);
        }
        apply_queues(&mut self.acd, acd_now, &new.queues, &mut self.queue_names)
            .map_err(|e| err(422, format!("{e:#}")))?;
        // Agents: new ones are added (logged out), skills updated, removed ones logged out.
        for a in &new.agents {
            let skills: Vec<(acd::SkillId, u8)> = a
                .skills
                .iter()
                .map(|(s, l)| (self.acd.skill(s), *l))
                .collect();
            match self.agent_by_name.get(&a.id).copied() {
                Some(i) => {
                    let id = self.agents[i].id;
                    self.acd
                        .set_agent_skills(acd_now, id, skills)
                        .map_err(|e| err(422, format!("agent {}: {e}", a.id)))?;
                    self.agents[i].config = a.clone();
                }
                None => {
                    let id = self
                        .acd
                        .add_agent(acd::AgentConfig::new(a.id.clone(), skills))
                        .map_err(|e| err(422, format!("agent {}: {e}", a.id)))?;
                    self.agent_by_name.insert(a.id.clone(), self.agents.len());
                    self.agents.push(AgentRt {
                        id,
                        config: a.clone(),
                        device: None,
                        calls_answered: 0,
                    });
                }
            }
        }
        let removed: Vec<usize> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| !new.agents.iter().any(|n| n.id == a.config.id))
            .filter(|(_, a)| a.device.is_some())
            .map(|(i, _)| i)
            .collect();
        for i in removed {
            let id = self.agents[i].id;
            self.agents[i].device = None;
            let _ = self.acd.handle_event(acd_now, acd::Event::AgentLogout(id));
        }
        // Phones.
        sip.registrar.set_users(
            new.devices
                .iter()
                .map(|d| (d.user.clone(), d.password.clone()))
                .collect(),
        );
        // Trunks: outbound ones added or dropped (those kept keep their registration).
        for t in &new.trunks {
            if let Some(ob) = &t.outbound
                && !self.trunks.contains_key(&t.name)
            {
                let local = crate::run::trunk::Local {
                    listen: self.sip_local.into_iter().collect(),
                    transport: transaction::Transport::Udp,
                };
                self.trunks.insert(
                    t.name.clone(),
                    crate::run::trunk::Trunk::new(now, &t.name, ob.clone(), local, rand::random()),
                );
            }
        }
        self.trunks.retain(|name, _| {
            new.trunks
                .iter()
                .any(|t| &t.name == name && t.outbound.is_some())
        });
        // Dialplans: calls in progress keep the plan they started with.
        let mut done = Vec::new();
        for (trunk, plan) in slots {
            let file = plan.file().to_owned();
            let base = Path::new(&file)
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf();
            self.prompts_dir.entry(trunk.clone()).or_insert(base);
            match self.dialplans.get_mut(&trunk) {
                Some(slot) => {
                    *slot = ivr::DialplanSlot::new(plan);
                }
                None => {
                    self.dialplans
                        .insert(trunk.clone(), ivr::DialplanSlot::new(plan));
                }
            }
            tracing::info!(trunk, file, "dialplan reloaded");
            done.push(file);
        }
        let trunks: Vec<String> = new.trunks.iter().map(|t| t.name.clone()).collect();
        self.dialplans.retain(|name, _| trunks.contains(name));
        let prompts = self.prompt_files();
        if let Err(e) = self.media.preload(&prompts) {
            tracing::warn!("after the reload some prompts cannot be played: {e:#}");
        }
        self.config = Arc::new(new);
        self.drain_acd(sip, now);
        self.pump_trunks(sip, now);
        tracing::info!(
            queues = self.config.queues.len(),
            agents = self.config.agents.len(),
            devices = self.config.devices.len(),
            trunks = self.config.trunks.len(),
            "configuration reloaded"
        );
        Ok(ReloadView { dialplans: done })
    }
}
