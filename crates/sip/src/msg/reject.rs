//! The stateless answer to a request that does not parse (RFC 3261 §8.2, §16.3).

use super::error::ParseError;
use super::message::Response;
use super::names::Known;
use super::via::Via;

/// When a request cannot be parsed, builds the stateless answer (status from the error,
/// reason phrase naming what is wrong) if enough is readable to address it: the Vias
/// that parse, and From, To, Call-ID and CSeq as written. `None` for responses or when no
/// Via is salvageable.
pub fn reject_unparsable(datagram: &[u8], err: &ParseError) -> Option<Response> {
    let status = err.status()?;
    let mut resp = Response::new(status, &err.reason());
    let end = memchr::memmem::find(datagram, b"\r\n\r\n").unwrap_or(datagram.len());
    let head = String::from_utf8_lossy(&datagram[..end]);
    let mut lines: Vec<String> = Vec::new();
    for line in head.split('\n').skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match lines.last_mut() {
            Some(prev) if line.starts_with([' ', '\t']) => {
                prev.push(' ');
                prev.push_str(line.trim());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    let mut vias = Vec::new();
    let mut seen = [false; 4];
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match Known::lookup(name.trim()) {
            Some(Known::VIA) => {
                vias.extend(value.split(',').filter_map(|v| salvage_via(v.trim())));
            }
            Some(k) => {
                let slot = match k {
                    Known::FROM => 0,
                    Known::TO => 1,
                    Known::CALL_ID => 2,
                    Known::CSEQ => 3,
                    _ => continue,
                };
                if !seen[slot] && !value.is_empty() {
                    seen[slot] = true;
                    resp.headers.push(k.as_str(), value);
                }
            }
            None => {}
        }
    }
    if vias.is_empty() {
        return None;
    }
    for via in vias.into_iter().rev() {
        resp.headers.push_via(via);
    }
    Some(resp)
}

/// A Via as written, or its longest prefix ending before a `;` that parses (so that junk
/// after the sent-by still lets the answer be addressed).
fn salvage_via(v: &str) -> Option<Via> {
    if let Ok(via) = Via::parse(v) {
        return Some(via);
    }
    v.rmatch_indices(';')
        .find_map(|(i, _)| Via::parse(v[..i].trim_end()).ok())
}
