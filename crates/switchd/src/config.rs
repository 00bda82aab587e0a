//! The daemon's configuration: one TOML file, or the built-in demo contact centre.
//!
//! [`load`] reads a file into the validated [`Config`] that the rest of the daemon uses;
//! every mistake is reported with file, line, column and a hint. [`demo`] builds the
//! configuration `switchyard run` serves without a file.
//!
//! The file's syntax and every key: `docs/config.md`; a full example:
//! `docs/switchyard.example.toml`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "config_cmd.rs"]
pub(crate) mod cmd;
mod demo;
mod doc;
mod print;
mod read;

pub(crate) use demo::demo;
pub(crate) use print::to_toml;

/// A validated configuration. Durations are plain [`Duration`]s, addresses are parsed,
/// every name one part refers to exists (queues' skills, agents' devices, trunks'
/// dialplans compile).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The file it came from (`None`: the demo).
    pub(crate) source: Option<PathBuf>,
    pub(crate) sip: SipConfig,
    pub(crate) rtp: RtpConfig,
    pub(crate) http: HttpConfig,
    pub(crate) storage: StorageConfig,
    pub(crate) calls: CallsConfig,
    pub(crate) voicemail: VoicemailConfig,
    pub(crate) feature_codes: FeatureCodes,
    /// Every skill name: the top-level `skills` list, or without one, those the agents
    /// and queues name (sorted).
    pub(crate) skills: Vec<String>,
    pub(crate) trunks: Vec<Trunk>,
    /// SIP users: phones that register and may place calls (agents log in on any of them).
    pub(crate) devices: Vec<Device>,
    pub(crate) agents: Vec<Agent>,
    pub(crate) queues: Vec<Queue>,
}

#[derive(Debug, Clone)]
pub(crate) struct SipConfig {
    /// UDP and TCP listen addresses (`[sip] listen`; default 127.0.0.1:5060 and [::1]:5060).
    pub(crate) listen: Vec<SocketAddr>,
    /// Domain and digest realm (default: the host of the first listen address).
    pub(crate) domain: Option<String>,
    pub(crate) min_expires: u32,
    pub(crate) max_contacts: usize,
    /// OPTIONS keep-alive/qualify interval for registered phones (`None`: off).
    pub(crate) qualify_interval: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RtpConfig {
    /// Address RTP sockets bind to and that SDP advertises.
    pub(crate) address: IpAddr,
    /// Even ports from `port_min` to `port_max` (inclusive) are handed out.
    pub(crate) port_min: u16,
    pub(crate) port_max: u16,
    /// A call whose caller or agent sends no RTP this long (except on hold) is ended.
    pub(crate) inactivity: Duration,
    /// Take the legs' RTP off the UDP stack with AF_XDP (needs root; sockets otherwise).
    pub(crate) xdp: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpConfig {
    /// REST/WebSocket API address (default 127.0.0.1:8080).
    pub(crate) listen: SocketAddr,
    /// Every API request carries this key (`Authorization: Bearer KEY` or `X-API-Key`).
    pub(crate) api_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageConfig {
    /// Directory holding the SQLite database, recordings and voicemail.
    pub(crate) path: PathBuf,
}

#[derive(Debug, Clone)]
pub(crate) struct CallsConfig {
    /// Longest call; both legs are hung up after it.
    pub(crate) max_duration: Duration,
    /// Session-Expires asked for / accepted (RFC 4028), in seconds.
    pub(crate) session_expires: u32,
    /// On SIGTERM, calls in progress may go on this long before BYE.
    pub(crate) shutdown_grace: Duration,
    /// Play IVR prompts before answering, as early media (183 with SDP).
    pub(crate) early_media: bool,
    /// Record connected calls to `<storage>/recordings` (stereo: caller left, agent right).
    pub(crate) record: bool,
    /// How long a dialled phone (phone-to-phone call) rings before the caller gets 480.
    pub(crate) ring_timeout: Duration,
}

impl CallsConfig {
    /// `ring_timeout` when the file does not say: a common ring time (five or six rings).
    pub(crate) const RING_TIMEOUT: Duration = Duration::from_secs(30);
    /// The shortest `ring_timeout`: below a second a phone barely gets the INVITE (its
    /// first retransmission is due after T1, 500 ms) before it is cancelled.
    pub(crate) const RING_TIMEOUT_MIN: Duration = Duration::from_secs(1);
    /// The longest `ring_timeout`: we send the caller one 180, and a proxy on the caller's
    /// path may cancel an INVITE that has had no provisional response for 3 minutes
    /// (RFC 3261 §13.3.1.1, Timer C in §16.6). Timer B (32 s) is no limit: it only ends an
    /// INVITE with no provisional response at all, and the caller gets our 100 at once.
    pub(crate) const RING_TIMEOUT_MAX: Duration = Duration::from_secs(180);
}

#[derive(Debug, Clone)]
pub(crate) struct VoicemailConfig {
    /// Longest message.
    pub(crate) max_length: Duration,
    /// Prompt played before the beep (a prompt name in the dialplan's prompt set).
    pub(crate) greeting: String,
}

#[derive(Debug, Clone)]
pub(crate) struct FeatureCodes {
    /// `*45<agent>*<pin>` logs the agent in on the dialling phone.
    pub(crate) login: String,
    /// `*46` logs the agent on this phone out.
    pub(crate) logout: String,
    /// `*47` pauses the agent on this phone.
    pub(crate) pause: String,
    /// `*48` makes them ready again.
    pub(crate) unpause: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Trunk {
    pub(crate) name: String,
    pub(crate) inbound: Option<Inbound>,
    pub(crate) outbound: Option<Outbound>,
}

/// Calls from a carrier: recognised by source address, no digest challenge.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    /// Source networks (`"127.0.0.2/32"`, `"2001:db8::/64"`).
    pub(crate) from: Vec<Cidr>,
    /// Where the dialled number is read.
    pub(crate) did_from: DidSource,
    /// Country code used to turn national numbers into E.164 (`"86"`).
    pub(crate) country_code: Option<String>,
    /// Prefix of national numbers (`"0"`), replaced by `+<country code>`.
    pub(crate) national_prefix: Option<String>,
    /// The dialplan calls on this trunk run (compiled at load).
    pub(crate) dialplan: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DidSource {
    RequestUri,
    To,
    Diversion,
}

/// A network: an address and a prefix length (`127.0.0.2/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl Cidr {
    /// The network address: `addr` with the bits beyond the prefix cleared.
    pub(crate) fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// True when some address is in both networks.
    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// True when `ip` is in this network (an IPv4 network never holds an IPv6 address).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Calls out through a carrier.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// Tried in priority order (lowest first); the next on 5xx, on no answer, or when no
    /// provisional response comes within `failover_after`.
    pub(crate) gateways: Vec<Gateway>,
    /// Digest credentials for the carrier's 401/407 (and REGISTER when `register`).
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) register: bool,
    /// OPTIONS health checks of each gateway (`None`: off).
    pub(crate) options_interval: Option<Duration>,
    /// No provisional response within this long: try the next gateway.
    pub(crate) failover_after: Duration,
    /// Caller number presented on outbound calls (default: the original caller).
    pub(crate) caller_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    /// Where requests go (`sip:host:port`), as written.
    pub(crate) uri: String,
    /// Its resolved address (IP literals only).
    pub(crate) address: SocketAddr,
    pub(crate) priority: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// SIP user name (the extension).
    pub(crate) user: String,
    pub(crate) password: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// Agent id, dialled after the login feature code and used by the API.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) pin: String,
    /// Skills and levels (1-10).
    pub(crate) skills: Vec<(String, u8)>,
    /// Logged in on this device when the daemon starts (the demo does this).
    pub(crate) login_on: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) name: String,
    /// Base requirements: skill and minimum level.
    pub(crate) skills: Vec<(String, u8)>,
    pub(crate) strategy: switchyard_acd::Strategy,
    pub(crate) ring_timeout: Duration,
    pub(crate) wrap_up: Duration,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) max_length: Option<usize>,
    /// Position/estimated-wait announcements (`None`: none).
    pub(crate) announce_every: Option<Duration>,
    pub(crate) sl_threshold: Duration,
    pub(crate) sl_target: f64,
    /// Where callers go when the maximum wait passes / the queue is full / no agent is
    /// logged in.
    pub(crate) on_max_wait: Overflow,
    pub(crate) on_full: Overflow,
    pub(crate) on_no_agents: Option<Overflow>,
    /// Music on hold: a prompt name of the dialplan's prompt set, or a file.
    pub(crate) music: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Back to the dialplan (the step after `queue`).
    Dialplan,
    Voicemail(String),
    Queue(String),
    /// A number dialled through a trunk: `number:+8610...@trunk`.
    Number {
        number: String,
        trunk: String,
    },
}

/// A configuration error, printed as `file:line:col: error: ...` with the line, a caret
/// and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    /// The offending source line (for the caret display).
    pub(crate) source_line: String,
    /// How many characters the caret underlines (at least 1).
    pub(crate) len: usize,
}

impl ConfigError {
    /// The error as rustc prints one: the headline, the line with a caret under the
    /// column, and the hint.
    pub(crate) fn render(&self) -> String {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        let mut out = format!("{self}\n{pad} |\n{num} | {}\n", self.source_line);
        let col = self.column.max(1);
        out += &format!(
            "{pad} | {}{}",
            " ".repeat(col - 1),
            "^".repeat(self.len.max(1))
        );
        if let Some(hint) = &self.hint {
            out += &format!("\n{pad} = hint: {hint}");
        }
        out
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a configuration file. Every error found is returned, each with
/// its file, line and column; a file that cannot be read gives one error at 1:1.
pub(crate) fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text),
        Err(e) => Err(vec![ConfigError {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("cannot read the configuration: {e}"),
            hint: None,
            source_line: String::new(),
            len: 1,
        }]),
    }
}

/// Validates the text of a configuration file; `path` names the file in errors, and
/// relative paths in it are relative to its directory.
pub(crate) fn load_str(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    read::read(path, text)
}

/// Renders errors for a terminal, one after another with a blank line between.
pub(crate) fn render_errors(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ConfigError::render)
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Config {
    /// Queue and skill and trunk names, for checking dialplans against this configuration.
    pub(crate) fn known(&self) -> switchyard_ivr::Known {
        switchyard_ivr::Known {
            queues: self.queues.iter().map(|q| q.name.clone()).collect(),
            skills: self.skills.iter().cloned().collect(),
            trunks: self.trunks.iter().map(|t| t.name.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
