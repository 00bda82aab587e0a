//! Call control: the B2BUA that carries a caller from a trunk through the dialplan and the
//! queue to an agent's phone, and a phone's call to another phone's extension.
//!
//! One [`Call`] per inbound call owns its legs: the caller's dialog (answered by us, our
//! media), its IVR interpreter, its place in the ACD, the INVITEs ringing agents' phones and,
//! once one answers, the agent's dialog. The two legs share nothing at the SIP level (new
//! Call-ID, tags, CSeq, SDP); media meets in the media server, which plays prompts to the
//! caller, then relays RTP between the legs.
//!
//! Everything here runs on the SIP loop's thread, is given `now`, and acts through the
//! transaction layer (SIP), [`Media`] (commands to the media thread), [`Store`] (records
//! for the writer thread), the API's event channel and the lookup queue the loop drains.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_acd::{self as acd, Acd, AgentId, CallId};
use switchyard_ivr::{self as ivr, Interpreter};
use switchyard_media::codec::CodecKind;
use switchyard_media::sdp::{
    Direction, LocalMedia, NegotiatedAudio, SdpConfig, SdpSession, SessionDescription,
};
use switchyard_sip::dialog::{Dialog, DialogEvent, LocalVia, SessionTimerConfig};
use switchyard_sip::transaction::{self, TsxKey};
use switchyard_sip::transport::Source;
use switchyard_sip::{Message, Request};
use tokio::sync::broadcast;

use crate::api::{ApiEvent, ApiRequest};
use crate::config::{self, Config};
use crate::media::{LegId, LegParams, Media, MediaEvent, RecordMode, Tone};
use crate::run::core::tsx_transport;
use crate::store::{self, Record, Store};

mod agents;
mod control;
mod extension;
mod legs;
mod reload;
mod trunks;

pub(crate) use reload::apply_queues;

pub(crate) use control::LookupJob;
pub(crate) use legs::Sip;

/// Music on hold prompt name (in the dialplan's prompt set).
const MUSIC: &str = "music_on_hold";
/// Prompts call control plays besides the dialplan's.
const EXTRA_PROMPTS: &[&str] = &[
    MUSIC,
    "position",
    "next_in_line",
    "estimated_wait",
    "minutes",
    "minute",
    "less_than_a_minute",
    "agent_logged_in",
    "agent_logged_out",
    "agent_paused",
    "agent_ready",
    "login_failed",
    "leave_message",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "30",
    "40",
    "50",
    "60",
    "70",
    "80",
    "90",
    "hundred",
    "thousand",
];

/// What call control needs from the daemon.
pub(crate) struct CallsSetup {
    pub(crate) config: Arc<Config>,
    pub(crate) media: Media,
    pub(crate) store: Store,
    pub(crate) events: broadcast::Sender<ApiEvent>,
    /// Compiled dialplans by trunk name.
    pub(crate) dialplans: HashMap<String, ivr::DialplanSlot>,
    /// The dialplan's wall clock at `epoch` (real time, or `--at` for tests).
    pub(crate) wall_start: jiff::Timestamp,
    pub(crate) epoch: Instant,
    /// Our first SIP address (the source of requests to trunks).
    pub(crate) sip_local: Option<SocketAddr>,
}

/// Which side of a call a leg is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Caller,
    /// An INVITE to an agent's phone (ringing), or the agent's answered leg.
    Agent(u32),
    /// An outbound leg to a trunk or an extension (transfer).
    Outbound,
}

/// One SIP leg with its media.
struct Leg {
    media: LegId,
    /// Where its requests go (and came from): the peer's address, our socket.
    peer: Source,
    dialog: Option<Dialog>,
    sdp: SdpSession,
    local_rtp: SocketAddr,
    negotiated: Option<NegotiatedAudio>,
    /// The INVITE we sent (outgoing legs) or received (the caller's).
    invite: Request,
    /// Our INVITE's client transaction (outgoing legs), or the caller's server one.
    invite_key: TsxKey,
    /// Final response received (outgoing) or sent (incoming).
    answered: bool,
    /// We sent CANCEL.
    cancelled: bool,
    /// The peer holds us (re-INVITE sendonly/inactive).
    held: bool,
    /// Our SDP answer (or offer) for the caller's INVITE.
    body: String,
}

/// An agent's phone ringing for a call.
struct Offer {
    agent: AgentId,
    device: String,
    leg: Leg,
    started: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ivr,
    Queued,
    Connected,
    /// Transferred out through a trunk or to an extension: ringing or connected.
    Outbound,
    Voicemail,
    /// A feature-code call: play the confirmation, then hang up.
    Feature,
    Ended,
}

struct Call {
    id: u64,
    name: String,
    phase: Phase,
    caller: Leg,
    /// Agents' phones ringing for this call, by offer number.
    offers: HashMap<u32, Offer>,
    /// The connected agent and their leg.
    agent: Option<(AgentId, Leg)>,
    outbound: Option<Leg>,
    /// The outbound leg's gateway attempts, when it goes through a trunk.
    trunk_call: Option<crate::run::trunk::OutboundCall>,
    interp: Option<Interpreter>,
    /// The playback the interpreter waits for.
    ivr_play: Option<u32>,
    /// The dialplan's pending deadline.
    ivr_deadline: Option<Instant>,
    info: ivr::CallInfo,
    variables: serde_json::Map<String, serde_json::Value>,
    /// Record the connected part (`record on` in the dialplan or the config).
    record: bool,
    recording: Option<PathBuf>,
    queue: Option<String>,
    queued_at: Option<Instant>,
    wait: Option<Duration>,
    start_wall: jiff::Timestamp,
    answer_wall: Option<jiff::Timestamp>,
    connected_at: Option<Instant>,
    connected_wall: Option<jiff::Timestamp>,
    max_end: Instant,
    ack_deadline: Option<Instant>,
    disposition: Option<&'static str>,
    hangup_by: Option<&'static str>,
    hangup_reason: Option<String>,
    voicemail: Option<VoicemailRun>,
    /// Announcement playback in the queue (music resumes after it).
    announcing: Option<u32>,
    /// The ACD still holds the call (waiting, ringing or connected).
    in_acd: bool,
    /// The ACD reported a long wait and the dialplan is deciding (the place is kept).
    long_wait_pending: bool,
    /// The timer-set key this call is filed under.
    next_deadline: Option<Instant>,
    /// A 183 with our SDP went to the caller (early media), not yet the 200.
    early_sent: bool,
    /// A phone-to-phone call: the dialled extension and its ringing forks.
    extension: Option<extension::ExtensionCall>,
    /// The far end's final status of the dialplan's last transfer, when it failed and the
    /// dialplan has not tried to serve the caller otherwise since (queue, voicemail,
    /// another transfer): a hang-up then says `transfer-failed:STATUS`.
    transfer_failed: Option<u16>,
    /// The phone the dialplan's transfer (to an extension or an agent) rings or is
    /// connected to, while it does: that device is busy until the transfer fails or the
    /// call ends (counted in `Calls::on_phone_call`).
    transferred_to: Option<String>,
    /// The registered phone that placed this call into a dialplan (it dialled the DID or
    /// an IVR's number): that device is busy for the call's life (counted in
    /// `Calls::on_phone_call`).
    caller_device: Option<String>,
}

impl Call {
    /// Starts the stereo recording of a call just connected (caller left, the other
    /// party right) in `<storage>/recordings`, when the call is to be recorded.
    fn start_recording(
        &mut self,
        media: &mut Media,
        storage: &std::path::Path,
        wall: jiff::Timestamp,
    ) {
        if !self.record {
            return;
        }
        let dir = storage.join("recordings");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "{}-{}.wav",
            wall.strftime("%Y%m%d-%H%M%S"),
            self.name
        ));
        media.record(self.caller.media, path.clone(), RecordMode::Stereo, None);
        self.recording = Some(path);
    }

    /// A call that has just begun: the caller's leg and what it dialled, with nothing
    /// answered, offered, queued or recorded yet; it ends at the latest at `max_end`.
    fn new(
        id: u64,
        phase: Phase,
        caller: Leg,
        info: ivr::CallInfo,
        start_wall: jiff::Timestamp,
        max_end: Instant,
    ) -> Self {
        Call {
            id,
            name: format!("c{id}"),
            phase,
            offers: HashMap::new(),
            agent: None,
            outbound: None,
            trunk_call: None,
            interp: None,
            ivr_play: None,
            ivr_deadline: None,
            info,
            variables: serde_json::Map::new(),
            record: false,
            recording: None,
            queue: None,
            queued_at: None,
            wait: None,
            start_wall,
            answer_wall: None,
            connected_at: None,
            connected_wall: None,
            max_end,
            ack_deadline: None,
            disposition: None,
            hangup_by: None,
            hangup_reason: None,
            voicemail: None,
            announcing: None,
            in_acd: false,
            long_wait_pending: false,
            next_deadline: None,
            early_sent: false,
            extension: None,
            transfer_failed: None,
            transferred_to: None,
            caller_device: None,
            caller,
        }
    }
}

struct VoicemailRun {
    mailbox: String,
    path: PathBuf,
    /// The greeting/beep is playing; recording starts after it.
    greeting: Option<u32>,
    started: Option<Instant>,
    /// Hand the result back to the dialplan (else the call ends after it).
    from_dialplan: bool,
}

/// What a client transaction we started is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientPurpose {
    /// The INVITE ringing an agent: call, offer number.
    Offer(u64, u32),
    /// An outbound leg's INVITE.
    Outbound(u64),
    /// The INVITE ringing one contact of a dialled extension: call, fork number.
    Fork(u64, u32),
    /// In-dialog requests (BYE, re-INVITE, UPDATE...): nothing waits for the answer
    /// except re-INVITEs, whose 2xx needs an ACK.
    InDialog(u64, Side),
}

/// An agent as call control knows them.
struct AgentRt {
    id: AgentId,
    config: config::Agent,
    /// The device (extension) the agent is logged in on.
    device: Option<String>,
    calls_answered: u64,
}

pub(crate) struct Calls {
    config: Arc<Config>,
    media: Media,
    store: Store,
    events: broadcast::Sender<ApiEvent>,
    dialplans: HashMap<String, ivr::DialplanSlot>,
    wall_start: jiff::Timestamp,
    epoch: Instant,
    acd: Acd,
    agents: Vec<AgentRt>,
    agent_by_name: HashMap<String, usize>,
    queue_names: HashMap<acd::QueueId, String>,
    calls: HashMap<u64, Box<Call>>,
    next_call: u64,
    next_leg: u64,
    next_offer: u32,
    next_play: u32,
    /// Server INVITE transactions of callers: call id.
    by_server_invite: HashMap<TsxKey, u64>,
    /// Dialogs: call and side.
    by_dialog: HashMap<(String, String, String), (u64, Side)>,
    by_client: HashMap<TsxKey, ClientPurpose>,
    by_media: HashMap<LegId, (u64, Side)>,
    timers: BTreeSet<(Instant, u64)>,
    lookups: VecDeque<LookupJob>,
    /// New calls are refused (graceful shutdown).
    draining: bool,
    prompts_dir: HashMap<String, PathBuf>,
    sip_local: Option<SocketAddr>,
    /// DTMF from SIP INFO, fed in once the call is back in the map.
    pending_dtmf: Vec<(u64, char)>,
    /// INVITEs of calls that ended while they rang: a crossing 2xx gets ACK and BYE.
    orphans: HashMap<TsxKey, (Leg, Option<(u64, AgentId)>)>,
    /// Outbound trunks (health checks, registration, gateway failover).
    trunks: HashMap<String, crate::run::trunk::Trunk>,
    /// REGISTER and OPTIONS transactions of the trunks.
    trunk_keys: HashMap<TsxKey, String>,
    /// Voicemail recordings still being closed after their call ended.
    finished_voicemail: HashMap<PathBuf, (String, String, String, bool, jiff::Timestamp)>,
    /// Devices on calls that are not queue calls, with how many: phone-to-phone calls
    /// (as caller or dialled phone), dialplan transfers ringing or connected to them, and
    /// calls they placed into a dialplan. Agents logged in on them are offered nothing.
    on_phone_call: HashMap<String, u32>,
    /// Calls ended since start, by their CDR's disposition (for `/health` and `/metrics`).
    ended: std::collections::BTreeMap<&'static str, u64>,
}

fn dialog_map_key(d: &Dialog) -> (String, String, String) {
    let k = d.key();
    (
        k.call_id.as_str().to_owned(),
        k.local_tag.as_str().to_owned(),
        k.remote_tag.as_str().to_owned(),
    )
}

fn codec_of(neg: &NegotiatedAudio) -> CodecKind {
    neg.codec.kind
}

fn leg_params(neg: &NegotiatedAudio, fallback: SocketAddr) -> LegParams {
    LegParams {
        remote: neg.remote_rtp.unwrap_or(fallback),
        codec: codec_of(neg),
        payload_type: neg.send_pt,
        dtmf_payload_type: neg.send_dtmf_pt,
        ptime_ms: neg.ptime_ms,
        send: neg.remote_rtp.is_some() && neg.direction.sends(),
        receive: neg.direction.receives() && !neg.remote_hold,
        inband_dtmf: neg.send_dtmf_pt.is_none(),
    }
}

fn unix_ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

impl Calls {
    pub(crate) fn new(setup: CallsSetup) -> anyhow::Result<Calls> {
        let config = setup.config.clone();
        let mut acd = Acd::new(acd::AcdConfig {
            seed: rand::random(),
            await_cancel: true,
            cancel_guard: Duration::from_secs(8),
            ..acd::AcdConfig::default()
        });
        let mut queue_names = HashMap::new();
        apply_queues(&mut acd, Duration::ZERO, &config.queues, &mut queue_names)?;
        let mut agents = Vec::new();
        let mut agent_by_name = HashMap::new();
        for a in &config.agents {
            let skills = a.skills.iter().map(|(s, l)| (acd.skill(s), *l)).collect();
            let id = acd
                .add_agent(acd::AgentConfig::new(a.id.clone(), skills))
                .map_err(|e| anyhow::anyhow!("agent {}: {e}", a.id))?;
            agent_by_name.insert(a.id.clone(), agents.len());
            agents.push(AgentRt {
                id,
                config: a.clone(),
                device: None,
                calls_answered: 0,
            });
        }
        let mut prompts_dir = HashMap::new();
        for (trunk, slot) in &setup.dialplans {
            let plan = slot.current();
            // The dialplan's `prompts` directory: its prompt files are `<dir>/<lang>/NAME.wav`
            // (without any, the `../prompts` default beside the dialplan).
            let root = plan
                .prompt_files()
                .next()
                .and_then(|f| f.parent()?.parent())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| {
                    Path::new(plan.file())
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join("../prompts")
                });
            prompts_dir.insert(trunk.clone(), root);
        }
        let trunks = config
            .trunks
            .iter()
            .filter_map(|t| {
                let ob = t.outbound.clone()?;
                let local = crate::run::trunk::Local {
                    listen: setup.sip_local.into_iter().collect(),
                    transport: transaction::Transport::Udp,
                };
                Some((
                    t.name.clone(),
                    crate::run::trunk::Trunk::new(setup.epoch, &t.name, ob, local, rand::random()),
                ))
            })
            .collect();
        Ok(Calls {
            config,
            media: setup.media,
            store: setup.store,
            events: setup.events,
            dialplans: setup.dialplans,
            wall_start: setup.wall_start,
            epoch: setup.epoch,
            acd,
            agents,
            agent_by_name,
            queue_names,
            calls: HashMap::new(),
            next_call: 1,
            next_leg: 1,
            next_offer: 1,
            next_play: 1_000_000,
            by_server_invite: HashMap::new(),
            by_dialog: HashMap::new(),
            by_client: HashMap::new(),
            by_media: HashMap::new(),
            timers: BTreeSet::new(),
            lookups: VecDeque::new(),
            draining: false,
            prompts_dir,
            trunks,
            trunk_keys: HashMap::new(),
            sip_local: setup.sip_local,
            pending_dtmf: Vec::new(),
            orphans: HashMap::new(),
            finished_voicemail: HashMap::new(),
            on_phone_call: HashMap::new(),
            // The common outcomes exist from the start, so their series do too.
            ended: [
                "answered",
                "abandoned",
                "failed",
                "transferred",
                "voicemail",
            ]
            .into_iter()
            .map(|d| (d, 0))
            .collect(),
        })
    }

    fn acd_now(&self, now: Instant) -> acd::Time {
        now.saturating_duration_since(self.epoch)
    }

    fn wall(&self, now: Instant) -> jiff::Timestamp {
        let elapsed = now.saturating_duration_since(self.epoch);
        self.wall_start
            .checked_add(jiff::SignedDuration::try_from(elapsed).unwrap_or_default())
            .unwrap_or(self.wall_start)
    }

    fn new_leg_id(&mut self) -> LegId {
        let id = self.next_leg;
        self.next_leg += 1;
        id
    }

    /// Tells API clients that call `name` has begun.
    fn emit_call_started(&self, name: &str, info: &ivr::CallInfo) {
        self.emit(ApiEvent::CallStarted {
            call: name.to_owned(),
            caller: info.from.clone(),
            did: info.to.clone(),
            trunk: info.trunk.clone(),
        });
    }

    fn emit(&self, ev: ApiEvent) {
        // No receiver (no WebSocket client) is normal.
        let _ = self.events.send(ev);
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn media(&mut self) -> &mut Media {
        &mut self.media
    }

    pub(crate) fn poll_lookup(&mut self) -> Option<LookupJob> {
        self.lookups.pop_front()
    }

    pub(crate) fn active_calls(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let acd = self.acd.poll_timeout().map(|t| self.epoch + t);
        let calls = self.timers.first().map(|(t, _)| *t);
        let trunks = self.trunks.values().filter_map(|t| t.poll_timeout()).min();
        [acd, calls, trunks].into_iter().flatten().min()
    }

    /// Files the call under its earliest deadline.
    fn reschedule(&mut self, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(old) = call.next_deadline.take() {
            self.timers.remove(&(old, id));
        }
        let mut next = [
            Some(call.max_end),
            call.ivr_deadline,
            call.ack_deadline,
            call.trunk_call.as_ref().and_then(|t| t.poll_timeout()),
            call.extension.as_ref().and_then(|e| e.ring_until),
        ]
        .into_iter()
        .flatten()
        .min();
        for leg in [
            Some(&call.caller),
            call.agent.as_ref().map(|(_, l)| l),
            call.outbound.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(t) = leg.dialog.as_ref().and_then(Dialog::poll_timeout) {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        call.next_deadline = next;
        if let Some(t) = next {
            self.timers.insert((t, id));
        }
    }

    /// The prompt file for a prompt name in the call's language.
    fn prompt_file(&self, call: &Call, name: &str) -> Option<Arc<Path>> {
        let lang = call
            .interp
            .as_ref()
            .map(|i| i.language().to_owned())
            .unwrap_or_else(|| "en".to_owned());
        let base = self
            .prompts_dir
            .get(&call.info.trunk)
            .cloned()
            .or_else(|| self.prompts_dir.values().next().cloned())
            .unwrap_or_else(|| PathBuf::from("prompts"));
        let root = base;
        for dir in [
            root.join(&lang),
            root.join("en"),
            root.join("music"),
            root.clone(),
        ] {
            let f = dir.join(format!("{name}.wav"));
            if f.is_file() {
                return Some(Arc::from(f.as_path()));
            }
        }
        let p = Path::new(name);
        p.is_file().then(|| Arc::from(p))
    }

    /// Every prompt file the media server should decode up front.
    pub(crate) fn prompt_files(&self) -> Vec<Arc<Path>> {
        let mut out: Vec<Arc<Path>> = Vec::new();
        // The dialplan check already reported the files a language needs; a `say` in one
        // language may list words that only another language has.
        for slot in self.dialplans.values() {
            out.extend(
                slot.current()
                    .prompt_files()
                    .filter(|p| p.is_file())
                    .map(Arc::from),
            );
        }
        // Music on hold, announcements, feature-code answers in every language.
        for root in self.prompts_dir.values() {
            for lang in ["en", "zh", "music"] {
                for name in EXTRA_PROMPTS {
                    let f = root.join(lang).join(format!("{name}.wav"));
                    if f.is_file() {
                        out.push(Arc::from(f.as_path()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The SDP policy of our legs.
fn sdp_session(seed: u64) -> SdpSession {
    SdpSession::new(SdpConfig {
        session_id: seed,
        ..SdpConfig::default()
    })
}

fn local_media(addr: SocketAddr, direction: Direction) -> LocalMedia {
    LocalMedia {
        address: addr.ip(),
        port: addr.port(),
        direction,
    }
}

fn parse_sdp(body: &[u8]) -> Option<SessionDescription> {
    let text = std::str::from_utf8(body).ok()?;
    SessionDescription::parse(text).ok()
}

fn parse_request(text: &str) -> Option<Request> {
    match Message::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => Some(r),
        _ => None,
    }
}

fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn local_via(source: &Source) -> Option<LocalVia> {
    LocalVia::new(tsx_transport(source.transport), &host_port(source.local)).ok()
}

fn session_timer_config(config: &Config) -> SessionTimerConfig {
    SessionTimerConfig {
        session_expires: config.calls.session_expires,
        ..SessionTimerConfig::default()
    }
}

impl Calls {
    /// Graceful shutdown: new calls get 503 from now on; with `end_calls`, every call is
    /// hung up. Returns the calls still up.
    pub(crate) fn drain(
        &mut self,
        sip: &mut legs::Sip<'_>,
        now: Instant,
        end_calls: bool,
    ) -> usize {
        self.draining = true;
        if end_calls {
            let ids: Vec<u64> = self.calls.keys().copied().collect();
            for id in ids {
                self.hangup(sip, now, id, "system", "shutdown");
            }
        }
        self.calls.len()
    }

    /// Stops the media thread and the storage writer (everything written first).
    pub(crate) fn close(self) {
        self.media.shutdown();
        self.store.close();
    }
}
