//! The SDP parser. Lenient where peers are sloppy (LF line ends, trailing blank lines,
//! unknown line types and attributes, lines out of order), strict where meaning would be
//! lost (a malformed `o=`, `c=` or `m=`).

use super::{Attribute, Connection, MediaDescription, Origin, OtherLine, SessionDescription};

/// Why a text is not valid SDP. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line is not `x=value` with a single lowercase letter.
    #[error("SDP line {line}: not of the form x=value")]
    NotTypeValue {
        /// Line number.
        line: usize,
    },
    /// A known line type has a malformed value.
    #[error("SDP line {line}: malformed {what}")]
    Malformed {
        /// Line number.
        line: usize,
        /// Which field.
        what: &'static str,
    },
    /// A mandatory line is missing.
    #[error("SDP: missing {0} line")]
    Missing(&'static str),
}

fn parse_connection(v: &str, line: usize) -> Result<Connection, SdpError> {
    let mut it = v.split_ascii_whitespace();
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(n), Some(a), Some(addr), None) => Ok(Connection {
            net_type: n.into(),
            addr_type: a.into(),
            address: addr.into(),
        }),
        _ => Err(SdpError::Malformed {
            line,
            what: "connection (c=)",
        }),
    }
}

fn parse_origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let bad = SdpError::Malformed {
        line,
        what: "origin (o=)",
    };
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let [user, id, ver, net, addr_type, addr] = f[..] else {
        return Err(bad);
    };
    Ok(Origin {
        username: user.into(),
        session_id: id.parse().map_err(|_| bad.clone())?,
        session_version: ver.parse().map_err(|_| bad.clone())?,
        net_type: net.into(),
        addr_type: addr_type.into(),
        address: addr.into(),
    })
}

fn parse_media(v: &str, line: usize) -> Result<MediaDescription, SdpError> {
    let bad = SdpError::Malformed {
        line,
        what: "media (m=)",
    };
    let mut it = v.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
        return Err(bad);
    };
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| bad.clone())?)),
        None => (port, None),
    };
    Ok(MediaDescription {
        media: media.into(),
        port: port.parse().map_err(|_| bad.clone())?,
        port_count,
        proto: proto.into(),
        formats: it.map(String::from).collect(),
        connection: None,
        other: Vec::new(),
        attributes: Vec::new(),
    })
}

fn parse_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, val)) => Attribute::value(n, val),
        None => Attribute::flag(v),
    }
}

pub(super) fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut version = None;
    let mut origin = None;
    let mut session_name = None;
    let mut connection = None;
    let mut other = Vec::new();
    let mut attributes = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        if l.trim().is_empty() {
            continue;
        }
        let mut chars = l.chars();
        let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
            return Err(SdpError::NotTypeValue { line });
        };
        if !kind.is_ascii_alphabetic() {
            return Err(SdpError::NotTypeValue { line });
        }
        let value = &l[2..];
        if let Some(m) = media.last_mut() {
            match kind {
                'm' => media.push(parse_media(value, line)?),
                'c' => m.connection = Some(parse_connection(value, line)?),
                'a' => m.attributes.push(parse_attribute(value)),
                _ => m.other.push(OtherLine {
                    kind,
                    value: value.into(),
                }),
            }
            continue;
        }
        match kind {
            'v' => {
                version = Some(value.trim().parse().map_err(|_| SdpError::Malformed {
                    line,
                    what: "version (v=)",
                })?)
            }
            'o' => origin = Some(parse_origin(value, line)?),
            's' => session_name = Some(value.to_string()),
            'c' => connection = Some(parse_connection(value, line)?),
            'a' => attributes.push(parse_attribute(value)),
            'm' => media.push(parse_media(value, line)?),
            _ => other.push(OtherLine {
                kind,
                value: value.into(),
            }),
        }
    }
    Ok(SessionDescription {
        version: version.ok_or(SdpError::Missing("v="))?,
        origin: origin.ok_or(SdpError::Missing("o="))?,
        // Some peers omit s=; RFC 8866 suggests "-" for no name.
        session_name: session_name.unwrap_or_else(|| "-".into()),
        connection,
        other,
        attributes,
        media,
    })
}
