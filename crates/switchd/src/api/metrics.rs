//! `GET /metrics`: the contact centre's state in Prometheus's text exposition format
//! (version 0.0.4), for dashboards and alerts: calls by state, agents by state, each
//! queue's waiting calls, longest wait, agents and today's service level, trunk health,
//! and the media thread's packet counters.
//!
//! Every value is read from the same views the REST routes serve, taken when the scrape
//! comes: gauges, and counters since start (calls ended by disposition, the media
//! thread's packets). The format is written here rather than with `prometheus-client`:
//! that crate keeps long-lived metric objects updated as events happen, whereas these
//! are snapshots the control loop computes on request, so a registry would be built and
//! thrown away per scrape only to print a dozen families. What the format asks of a
//! writer is small: `# HELP` and `# TYPE` lines, and label values escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{AgentView, CallView, HealthView, QueueView, TrunkView};

/// The content type Prometheus expects for this format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The call states a call view can have, each printed even at zero (a series that comes
/// and goes breaks rates and alerts).
const CALL_STATES: &[&str] = &[
    "ivr",
    "queued",
    "ringing",
    "connected",
    "voicemail",
    "ending",
];
/// The agent states, likewise.
const AGENT_STATES: &[&str] = &[
    "logged_out",
    "available",
    "ringing",
    "on_call",
    "wrap_up",
    "paused",
];

/// The exposition of one scrape.
pub(super) fn render(
    health: &HealthView,
    agents: &[AgentView],
    queues: &[QueueView],
    calls: &[CallView],
    trunks: &[TrunkView],
) -> String {
    let mut out = Metrics::default();
    out.family(
        "switchyard_up",
        "1 while serving; 0 while draining for shutdown.",
    );
    out.sample("switchyard_up", &[], u8::from(health.status == "ok"));
    out.family("switchyard_calls", "Calls in progress, by state.");
    for state in CALL_STATES {
        let n = calls.iter().filter(|c| c.state == *state).count();
        out.sample("switchyard_calls", &[("state", state)], n);
    }
    out.counter(
        "switchyard_calls_ended_total",
        "Calls ended since start, by their CDR's disposition.",
    );
    for (disposition, n) in &health.calls_ended {
        let labels = [("disposition", *disposition)];
        out.sample("switchyard_calls_ended_total", &labels, n);
    }
    out.family(
        "switchyard_rtp_ports_in_use",
        "RTP ports allocated to call legs.",
    );
    out.sample("switchyard_rtp_ports_in_use", &[], health.rtp_ports_in_use);
    let m = &health.media;
    out.family(
        "switchyard_rtp_xdp",
        "1 when the legs' RTP is taken off the UDP stack with AF_XDP ([rtp] xdp).",
    );
    out.sample("switchyard_rtp_xdp", &[], u8::from(m.xdp));
    for (name, help, value) in [
        (
            "switchyard_rtp_datagrams_received_total",
            "RTP datagrams received on every leg, whichever path carried them.",
            m.datagrams_received,
        ),
        (
            "switchyard_rtp_xdp_frames_received_total",
            "RTP datagrams that came as AF_XDP frames.",
            m.xdp_frames_received,
        ),
        (
            "switchyard_rtp_xdp_frames_forwarded_total",
            "Bridged RTP packets sent on from the AF_XDP frame they arrived in.",
            m.xdp_frames_forwarded,
        ),
        (
            "switchyard_rtp_xdp_frames_sent_total",
            "Generated RTP packets (prompts, tones, keys) sent as new AF_XDP frames.",
            m.xdp_frames_sent,
        ),
    ] {
        out.counter(name, help);
        out.sample(name, &[], value);
    }

    out.family(
        "switchyard_agents",
        "Agents by distributor state (a state this build does not know is counted as is).",
    );
    let mut by_state: BTreeMap<&str, usize> = AGENT_STATES.iter().map(|s| (*s, 0)).collect();
    for a in agents {
        *by_state.entry(a.state.as_str()).or_default() += 1;
    }
    for (state, n) in &by_state {
        out.sample("switchyard_agents", &[("state", state)], n);
    }
    out.family(
        "switchyard_agents_on_phone_call",
        "Agents whose phone is on a call that is not a queue call: offered no queue call.",
    );
    let on_phone = agents.iter().filter(|a| a.on_phone_call).count();
    out.sample("switchyard_agents_on_phone_call", &[], on_phone);

    out.family("switchyard_queue_waiting", "Calls waiting in the queue.");
    for q in queues {
        let n = q.waiting.len();
        out.sample("switchyard_queue_waiting", &[("queue", &q.name)], n);
    }
    out.family(
        "switchyard_queue_longest_wait_seconds",
        "How long the queue's longest-waiting call has waited (0: none waits).",
    );
    for q in queues {
        let longest = q.waiting.iter().map(|w| w.waited_s).fold(0.0, f64::max);
        let labels = [("queue", q.name.as_str())];
        out.sample("switchyard_queue_longest_wait_seconds", &labels, longest);
    }
    out.family(
        "switchyard_queue_agents",
        "Agents able to take the queue's calls, by state.",
    );
    for q in queues {
        let c = &q.agents;
        for (state, n) in [
            ("available", c.available),
            ("ringing", c.ringing),
            ("on_call", c.on_call),
            ("on_phone_call", c.on_phone_call),
            ("wrap_up", c.wrap_up),
            ("paused", c.paused),
            ("logged_out", c.logged_out),
        ] {
            let labels = [("queue", q.name.as_str()), ("state", state)];
            out.sample("switchyard_queue_agents", &labels, n);
        }
    }
    for (name, help, value) in [
        (
            "switchyard_queue_offered_today",
            "Calls offered to the queue since local midnight.",
            (|q: &QueueView| Some(q.today.offered as f64)) as fn(&QueueView) -> Option<f64>,
        ),
        (
            "switchyard_queue_answered_today",
            "Calls answered from the queue since local midnight.",
            |q| Some(q.today.answered as f64),
        ),
        (
            "switchyard_queue_abandoned_today",
            "Calls abandoned in the queue since local midnight.",
            |q| Some(q.today.abandoned as f64),
        ),
        (
            "switchyard_queue_service_level_ratio",
            "Share of today's calls answered within the threshold (absent before any call).",
            |q| q.today.service_level,
        ),
        (
            "switchyard_queue_service_level_threshold_seconds",
            "The queue's service-level threshold.",
            |q| Some(q.today.sl_threshold_s),
        ),
        (
            "switchyard_queue_average_speed_of_answer_seconds",
            "Today's average wait of answered calls (absent before any answer).",
            |q| q.today.average_speed_of_answer_s,
        ),
    ] {
        out.family(name, help);
        for q in queues {
            if let Some(v) = value(q) {
                out.sample(name, &[("queue", &q.name)], v);
            }
        }
    }

    out.family(
        "switchyard_gateway_up",
        "1 while the trunk's gateway answers its health checks.",
    );
    for t in trunks {
        for g in &t.gateways {
            let labels = [("trunk", t.name.as_str()), ("gateway", g.uri.as_str())];
            out.sample("switchyard_gateway_up", &labels, u8::from(g.up));
        }
    }
    out.family(
        "switchyard_trunk_registered",
        "1 while the trunk holds a registration with its carrier (trunks that register).",
    );
    for t in trunks {
        if let Some(r) = &t.registration {
            let registered = u8::from(r.state == "registered");
            out.sample(
                "switchyard_trunk_registered",
                &[("trunk", &t.name)],
                registered,
            );
        }
    }
    out.text
}

#[derive(Default)]
struct Metrics {
    text: String,
}

impl Metrics {
    /// Starts a family of gauges.
    fn family(&mut self, name: &str, help: &str) {
        self.typed(name, help, "gauge");
    }

    /// Starts a counter (a total since the daemon started).
    fn counter(&mut self, name: &str, help: &str) {
        self.typed(name, help, "counter");
    }

    fn typed(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"");
                escape(&mut self.text, v);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the format escapes it: backslash, double quote and line feed.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentCounts, GatewayView, QueueToday, RegistrationView, WaitingCall};

    fn call(state: &str) -> CallView {
        CallView {
            id: "c".into(),
            caller: "+86".into(),
            did: "+86".into(),
            trunk: "carrier".into(),
            state: state.into(),
            queue: None,
            agent: None,
            start_ms: 0,
            answer_ms: None,
        }
    }

    fn agent(state: &str, on_phone_call: bool) -> AgentView {
        AgentView {
            id: "1001".into(),
            name: "A".into(),
            state: state.into(),
            pause_reason: None,
            device: None,
            device_registered: true,
            on_phone_call,
            skills: Vec::new(),
            call: None,
            calls_answered: 0,
        }
    }

    fn waiting(waited_s: f64) -> WaitingCall {
        WaitingCall {
            call: "c".into(),
            caller: "+86".into(),
            position: 1,
            waited_s,
            priority: 0,
        }
    }

    #[test]
    fn every_family_is_typed_and_each_value_comes_from_its_view() {
        let health = HealthView {
            status: "ok",
            active_calls: 3,
            rtp_ports_in_use: 6,
            agents_logged_in: 2,
            media: crate::api::MediaView {
                datagrams_received: 1000,
                xdp: true,
                xdp_frames_received: 990,
                xdp_frames_forwarded: 900,
                xdp_frames_sent: 50,
            },
            calls_ended: [("answered", 12), ("abandoned", 1)].into(),
        };
        let agents = [
            agent("available", true),
            agent("on_call", false),
            agent("wrap_up", false),
        ];
        let queues = [
            QueueView {
                name: "sales".into(),
                waiting: vec![waiting(12.5), waiting(40.25)],
                agents: AgentCounts {
                    available: 2,
                    on_phone_call: 1,
                    ..AgentCounts::default()
                },
                today: QueueToday {
                    offered: 10,
                    answered: 8,
                    abandoned: 1,
                    service_level: Some(0.75),
                    sl_threshold_s: 20.0,
                    average_speed_of_answer_s: Some(7.5),
                },
            },
            QueueView {
                name: "say \"hi\"\\now\n".into(),
                waiting: Vec::new(),
                agents: AgentCounts::default(),
                today: QueueToday::default(),
            },
        ];
        let calls = [
            call("ivr"),
            call("queued"),
            call("queued"),
            call("connected"),
        ];
        let trunks = [TrunkView {
            name: "carrier".into(),
            gateways: vec![GatewayView {
                uri: "sip:127.0.0.1:5070".into(),
                address: "127.0.0.1:5070".into(),
                up: false,
                misses: 3,
            }],
            registration: Some(RegistrationView {
                state: "registered",
                gateway: None,
                expires_in_s: Some(100),
                last_status: None,
                failures: 0,
                retry_in_s: None,
            }),
        }];
        let text = render(&health, &agents, &queues, &calls, &trunks);
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "switchyard_up 1",
            "switchyard_calls{state=\"ivr\"} 1",
            "switchyard_calls{state=\"queued\"} 2",
            "switchyard_calls{state=\"voicemail\"} 0",
            "switchyard_rtp_ports_in_use 6",
            "switchyard_agents{state=\"available\"} 1",
            "switchyard_agents{state=\"paused\"} 0",
            "switchyard_agents_on_phone_call 1",
            "switchyard_queue_waiting{queue=\"sales\"} 2",
            "switchyard_queue_longest_wait_seconds{queue=\"sales\"} 40.25",
            "switchyard_queue_agents{queue=\"sales\",state=\"available\"} 2",
            "switchyard_queue_agents{queue=\"sales\",state=\"on_phone_call\"} 1",
            "switchyard_queue_offered_today{queue=\"sales\"} 10",
            "switchyard_queue_service_level_ratio{queue=\"sales\"} 0.75",
            "switchyard_queue_average_speed_of_answer_seconds{queue=\"sales\"} 7.5",
            "switchyard_queue_waiting{queue=\"say \\\"hi\\\"\\\\now\\n\"} 0",
            "switchyard_gateway_up{trunk=\"carrier\",gateway=\"sip:127.0.0.1:5070\"} 0",
            "switchyard_trunk_registered{trunk=\"carrier\"} 1",
            "switchyard_calls_ended_total{disposition=\"answered\"} 12",
            "switchyard_rtp_xdp 1",
            "switchyard_rtp_datagrams_received_total 1000",
            "switchyard_rtp_xdp_frames_forwarded_total 900",
            "switchyard_rtp_xdp_frames_sent_total 50",
        ] {
            assert!(lines.contains(&want), "no `{want}` in\n{text}");
        }
        // No service level before a queue's first call: the series is absent, not 0.
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("switchyard_queue_service_level_ratio{queue=\"say"))
        );
        // Every sample's family has its HELP and TYPE lines before it.
        let mut typed = std::collections::HashSet::new();
        for l in &lines {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let counter = rest.split(' ').next().unwrap().ends_with("_total");
                let kind = if counter { " counter" } else { " gauge" };
                assert!(rest.ends_with(kind), "{l}");
                typed.insert(rest.split(' ').next().unwrap());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} sampled before its TYPE");
            }
        }
        let draining = HealthView {
            status: "draining",
            ..health
        };
        assert!(render(&draining, &[], &[], &[], &[]).contains("\nswitchyard_up 0\n"));
    }
}
