//! SDP (RFC 8866, formerly RFC 4566): a lossless model, a robust parser (CRLF or LF,
//! unknown lines and attributes kept in order) and a printer (CRLF), plus offer/answer
//! negotiation (RFC 3264) in [`negotiate`].
//!
//! Written by hand: the SDP crates on crates.io either drop unknown lines (so a re-INVITE
//! would lose a peer's attributes), are tied to WebRTC's session model, or panic on odd
//! input; the grammar itself is a page of line splitting.

pub mod negotiate;
mod parse;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

pub use crate::codec::CodecDescriptor;
pub use negotiate::{
    Direction, LocalMedia, NegotiatedAudio, NegotiationError, SdpConfig, SdpSession,
    telephone_event,
};
pub use parse::SdpError;

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version, incremented on each change.
    pub session_version: u64,
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4` or `IP6`).
    pub addr_type: String,
    /// Unicast address of the originator.
    pub address: String,
}

/// `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4` or `IP6`).
    pub addr_type: String,
    /// Connection address (kept as text: it may carry a TTL or be a name).
    pub address: String,
}

impl Connection {
    /// A connection line for an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// `c=IN IP4 0.0.0.0` (or `::`), the RFC 2543 way of putting a call on hold.
    pub fn is_hold(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// An `a=` line: `a=name` or `a=name:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value after the first colon, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// `a=name`.
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// `a=name:value`.
    pub fn value(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// A line this model does not interpret (`i=`, `u=`, `e=`, `p=`, `b=`, `t=`, `r=`, `z=`,
/// `k=`, or an unknown type letter), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLine {
    /// The type letter.
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// A media description (`m=` and its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type (`audio`, `video`, ...).
    pub media: String,
    /// Transport port; 0 rejects or disables the stream.
    pub port: u16,
    /// Number of ports (`m=audio 4000/2 ...`), when given.
    pub port_count: Option<u16>,
    /// Transport protocol (`RTP/AVP`, ...).
    pub proto: String,
    /// Formats (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Uninterpreted lines in order.
    pub other: Vec<OtherLine>,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `v=` (always 0 in practice).
    pub version: u32,
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Uninterpreted session-level lines in order (`t=` among them).
    pub other: Vec<OtherLine>,
    /// Session-level attributes in order.
    pub attributes: Vec<Attribute>,
    /// Media descriptions in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses SDP text (CRLF or LF line ends).
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        parse::parse(text)
    }

    /// The connection that applies to media description `i` (its own, else the
    /// session's).
    pub fn connection_for(&self, i: usize) -> Option<&Connection> {
        self.media
            .get(i)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }
}

/// RFC 8866 §5 order of session-level line types; unknown letters go last.
const SESSION_ORDER: &str = "iuepcbtrzk";
/// Order of media-level line types.
const MEDIA_ORDER: &str = "icbk";

fn write_other(
    f: &mut fmt::Formatter<'_>,
    other: &[OtherLine],
    pred: impl Fn(char) -> bool,
) -> fmt::Result {
    for l in other.iter().filter(|l| pred(l.kind)) {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

fn write_attrs(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v={}\r\n", self.version)?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        for k in SESSION_ORDER.chars() {
            if k == 'c' {
                if let Some(c) = &self.connection {
                    write!(f, "c={c}\r\n")?;
                }
            } else {
                write_other(f, &self.other, |x| x == k)?;
            }
        }
        write_other(f, &self.other, |x| !SESSION_ORDER.contains(x))?;
        write_attrs(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            write!(f, "\r\n")?;
            for k in MEDIA_ORDER.chars() {
                if k == 'c' {
                    if let Some(c) = &m.connection {
                        write!(f, "c={c}\r\n")?;
                    }
                } else {
                    write_other(f, &m.other, |x| x == k)?;
                }
            }
            write_other(f, &m.other, |x| !MEDIA_ORDER.contains(x))?;
            write_attrs(f, &m.attributes)?;
        }
        Ok(())
    }
}
