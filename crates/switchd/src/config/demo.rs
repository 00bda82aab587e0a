//! The built-in demo contact centre: what `switchyard run` serves without a file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::read::DEFAULT_MUSIC;
use super::*;

/// The demo's dialplan: `dialplans/default.dialplan` under the current directory when it
/// is there, else the one in the source tree this binary was built from.
pub(crate) fn demo_dialplan() -> PathBuf {
    let here = Path::new("dialplans/default.dialplan");
    if here.is_file() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(here)
}

/// The built-in demo contact centre. `password` is called once per device (1001, 1002,
/// 1003, in that order) for its SIP password; `api_key` is the API key.
///
/// A trunk `carrier` takes calls from 127.0.0.2 (the DID from the Request-URI, national
/// numbers under country code 86) into the shipped dialplan; queues sales, support and
/// billing; agents 1001-1003, logged in on their own phones, with skills that let every
/// queue serve English callers with two agents and Mandarin callers with at least one.
pub(crate) fn demo(password: &dyn Fn() -> String, api_key: String) -> Config {
    let skills = ["sales", "support", "billing", "english", "mandarin"];
    type Levels = &'static [(&'static str, u8)];
    let agents: [(&str, &str, Levels); 3] = [
        (
            "1001",
            "Alice",
            &[
                ("sales", 5),
                ("support", 3),
                ("english", 8),
                ("mandarin", 5),
            ],
        ),
        (
            "1002",
            "Bob",
            &[("sales", 3), ("billing", 6), ("english", 6)],
        ),
        (
            "1003",
            "Chen",
            &[
                ("support", 6),
                ("billing", 4),
                ("english", 5),
                ("mandarin", 9),
            ],
        ),
    ];
    let queue = |name: &str, strategy| Queue {
        name: name.into(),
        skills: vec![(name.into(), 1)],
        strategy,
        ring_timeout: Duration::from_secs(15),
        wrap_up: Duration::from_secs(5),
        max_wait: None,
        max_length: None,
        announce_every: Some(Duration::from_secs(45)),
        sl_threshold: Duration::from_secs(20),
        sl_target: 0.8,
        on_max_wait: Overflow::Dialplan,
        on_full: Overflow::Dialplan,
        on_no_agents: None,
        music: DEFAULT_MUSIC.into(),
    };
    use switchyard_acd::Strategy;
    Config {
        source: None,
        sip: SipConfig {
            listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060),
            ],
            domain: None,
            min_expires: 60,
            max_contacts: 10,
            qualify_interval: Some(Duration::from_secs(30)),
        },
        rtp: RtpConfig {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20_000,
            port_max: 29_999,
            inactivity: Duration::from_secs(60),
            xdp: false,
        },
        http: HttpConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            api_key,
        },
        storage: StorageConfig {
            path: PathBuf::from("switchyard-data"),
        },
        calls: CallsConfig {
            max_duration: Duration::from_secs(4 * 3600),
            session_expires: 1800,
            shutdown_grace: Duration::from_secs(30),
            early_media: false,
            record: true,
            ring_timeout: CallsConfig::RING_TIMEOUT,
        },
        voicemail: VoicemailConfig {
            max_length: Duration::from_secs(120),
            greeting: "leave_message".into(),
        },
        feature_codes: FeatureCodes {
            login: "*45".into(),
            logout: "*46".into(),
            pause: "*47".into(),
            unpause: "*48".into(),
        },
        skills: skills.map(String::from).to_vec(),
        trunks: vec![Trunk {
            name: "carrier".into(),
            inbound: Some(Inbound {
                from: vec![Cidr {
                    addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                    prefix: 32,
                }],
                did_from: DidSource::RequestUri,
                country_code: Some("86".into()),
                national_prefix: Some("0".into()),
                dialplan: demo_dialplan(),
            }),
            outbound: None,
        }],
        devices: agents
            .iter()
            .map(|(user, _, _)| Device {
                user: (*user).into(),
                password: password(),
            })
            .collect(),
        agents: agents
            .iter()
            .map(|(id, name, skills)| Agent {
                id: (*id).into(),
                name: (*name).into(),
                pin: (*id).into(),
                skills: skills.iter().map(|(s, l)| ((*s).into(), *l)).collect(),
                login_on: Some((*id).into()),
            })
            .collect(),
        queues: vec![
            queue("sales", Strategy::LongestIdle),
            queue("support", Strategy::BestSkill),
            queue("billing", Strategy::LongestIdle),
        ],
    }
}
