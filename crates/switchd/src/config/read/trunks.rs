//! `[[trunk]]`: inbound networks and dialplans, outbound gateways and credentials.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::super::doc::{Table, closest};
use super::super::*;
use super::Reader;

impl Reader<'_> {
    pub(super) fn trunk(&mut self, t: Table<'_, '_>) -> Option<Trunk> {
        self.doc.check_keys(t, &["name", "inbound", "outbound"]);
        let named = self.name(t, "name", "\"carrier\"");
        if let Some((name, span)) = &named {
            self.unique("trunk", name, span.clone());
        }
        let (name, name_span) = named.clone().unwrap_or_else(|| ("?".into(), t.range()));
        let inbound = t
            .get("inbound")
            .and_then(|v| self.doc.table(v, "inbound", "[trunk.inbound]"))
            .and_then(|it| self.inbound(it, &name));
        let outbound = t
            .get("outbound")
            .and_then(|v| self.doc.table(v, "outbound", "[trunk.outbound]"))
            .and_then(|ot| self.outbound(ot));
        if t.get("inbound").is_none() && t.get("outbound").is_none() {
            self.doc.error(
                name_span,
                format!("trunk `{name}` has neither `[trunk.inbound]` nor `[trunk.outbound]`"),
                Some("add the calls it carries: `[trunk.inbound]` with `from` and `dialplan`, or `[trunk.outbound]` with `gateways`".into()),
            );
        }
        named.as_ref()?;
        self.trunk_outbound
            .entry(name.clone())
            .or_insert(t.get("outbound").is_some());
        Some(Trunk {
            name,
            inbound,
            outbound,
        })
    }

    pub(super) fn inbound(&mut self, t: Table<'_, '_>, trunk: &str) -> Option<Inbound> {
        self.doc.check_keys(
            t,
            &["from", "did", "country_code", "national_prefix", "dialplan"],
        );
        let from = match t.get("from") {
            None => {
                self.missing(t, "from", "[\"192.0.2.0/24\"]");
                Vec::new()
            }
            Some(v) => {
                let list = self
                    .doc
                    .array(v, "from", |doc, item| {
                        Some((doc.cidr(item, "from")?, item.span()))
                    })
                    .unwrap_or_default();
                if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                    self.doc.error(
                        v.span(),
                        "`from` must name at least one network",
                        Some(
                            "the carrier's signalling addresses, e.g. `from = [\"192.0.2.0/24\"]`"
                                .into(),
                        ),
                    );
                }
                for (cidr, span) in &list {
                    let clash = self
                        .networks
                        .iter()
                        .find(|(other, _, _)| other.overlaps(cidr))
                        .map(|(other, name, s)| (*other, name.clone(), s.start));
                    if let Some((other, name, at)) = clash {
                        let line = self.doc.line_of(at);
                        let whose = if name == trunk {
                            "another entry of this trunk".to_owned()
                        } else {
                            format!("trunk `{name}`")
                        };
                        self.doc.error(
                            span.clone(),
                            format!("{cidr} overlaps {other} of {whose} (line {line})"),
                            Some("a call's source address must identify one trunk: make the networks disjoint".into()),
                        );
                    }
                }
                for (cidr, span) in &list {
                    self.networks.push((*cidr, trunk.to_owned(), span.clone()));
                }
                list.into_iter().map(|(c, _)| c).collect()
            }
        };
        let did_from = t
            .get("did")
            .and_then(|v| {
                let s = self.doc.string(v, "did")?;
                match s.as_str() {
                    "request-uri" => Some(DidSource::RequestUri),
                    "to" => Some(DidSource::To),
                    "diversion" => Some(DidSource::Diversion),
                    _ => {
                        let known = ["request-uri", "to", "diversion"];
                        let hint = match closest(&s, &known) {
                            Some(k) => format!("did you mean \"{k}\"?"),
                            None => "one of \"request-uri\", \"to\", \"diversion\"".into(),
                        };
                        self.doc
                            .error(v.span(), format!("`{s}` is not a DID source"), Some(hint));
                        None
                    }
                }
            })
            .unwrap_or(DidSource::RequestUri);
        let country_code_v = t.get("country_code");
        let country_code = country_code_v.and_then(|v| {
            let s = self.doc.string(v, "country_code")?;
            let s2 = s.trim_start_matches('+');
            if s2.is_empty()
                || s2.len() > 3
                || !s2.chars().all(|c| c.is_ascii_digit())
                || s2.starts_with('0')
            {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not an E.164 country code"),
                    Some("1 to 3 digits, not starting with 0, e.g. \"86\" or \"1\"".into()),
                );
                return None;
            }
            Some(s2.to_owned())
        });
        let national_prefix = t.get("national_prefix").and_then(|v| {
            let s = self.doc.nonempty(v, "national_prefix")?;
            if !s.chars().all(|c| c.is_ascii_digit()) {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not a national prefix"),
                    Some("digits only, e.g. \"0\"".into()),
                );
                return None;
            }
            if country_code_v.is_none() {
                self.doc.error(
                    v.span(),
                    "`national_prefix` needs `country_code`",
                    Some(
                        "national numbers become +<country code><number>: add `country_code`"
                            .into(),
                    ),
                );
            }
            Some(s)
        });
        let dialplan = match t.get("dialplan") {
            None => {
                self.missing(t, "dialplan", "\"dialplans/default.dialplan\"");
                None
            }
            Some(v) => self.doc.nonempty(v, "dialplan").and_then(|s| {
                let path = self.base.join(&s);
                if !path.is_file() {
                    self.doc.error(
                        v.span(),
                        format!("dialplan `{}` does not exist", path.display()),
                        Some(
                            "relative paths are relative to the configuration file's directory"
                                .into(),
                        ),
                    );
                    return None;
                }
                self.dialplans.push((path.clone(), v.span()));
                Some(path)
            }),
        };
        Some(Inbound {
            from,
            did_from,
            country_code,
            national_prefix,
            dialplan: dialplan.unwrap_or_default(),
        })
    }

    pub(super) fn outbound(&mut self, t: Table<'_, '_>) -> Option<Outbound> {
        self.doc.check_keys(
            t,
            &[
                "gateways",
                "username",
                "password",
                "register",
                "options_interval",
                "failover_after",
                "caller_id",
            ],
        );
        let gateways = match t.get("gateways") {
            None => {
                self.missing(
                    t,
                    "gateways",
                    "[{ uri = \"sip:192.0.2.10:5060\", priority = 1 }]",
                );
                Vec::new()
            }
            Some(v) => {
                let mut index = 0u32;
                let list = self
                    .doc
                    .array(v, "gateways", |doc, item| {
                        index += 1;
                        let gt = doc.table(item, "gateways", "a gateway")?;
                        doc.check_keys(gt, &["uri", "priority"]);
                        let priority = match gt.get("priority") {
                            Some(p) => doc.int(p, "priority", 0, i64::from(u32::MAX))? as u32,
                            None => index,
                        };
                        let Some(uv) = gt.get("uri") else {
                            doc.error(
                                gt.range(),
                                "a gateway needs `uri`",
                                Some("e.g. `{ uri = \"sip:192.0.2.10:5060\", priority = 1 }`".into()),
                            );
                            return None;
                        };
                        let uri = doc.string(uv, "uri")?;
                        match gateway_address(&uri) {
                            Some(address) => Some(Gateway {
                                uri,
                                address,
                                priority,
                            }),
                            None => {
                                doc.error(
                                    uv.span(),
                                    format!("`{uri}` is not a SIP URI with an IP address"),
                                    Some("write `sip:IP` or `sip:IP:PORT` (e.g. \"sip:192.0.2.10:5060\", \"sip:[2001:db8::1]:5060\")".into()),
                                );
                                None
                            }
                        }
                    })
                    .unwrap_or_default();
                if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                    self.doc.error(
                        v.span(),
                        "`gateways` must list at least one gateway",
                        Some(
                            "e.g. `gateways = [{ uri = \"sip:192.0.2.10:5060\", priority = 1 }]`"
                                .into(),
                        ),
                    );
                }
                list
            }
        };
        let username = t
            .get("username")
            .and_then(|v| self.doc.nonempty(v, "username"));
        let password = t
            .get("password")
            .and_then(|v| self.doc.nonempty(v, "password"));
        let register = t
            .get("register")
            .and_then(|v| self.doc.boolean(v, "register"))
            .unwrap_or(false);
        if let Some(v) = t.get("password")
            && t.get("username").is_none()
        {
            self.doc.error(
                v.span(),
                "`password` without `username`",
                Some("digest authentication needs both: add `username`".into()),
            );
        }
        if register && (t.get("username").is_none() || t.get("password").is_none()) {
            let span = t.get("register").map_or(t.range(), |v| v.span());
            self.doc.error(
                span,
                "`register = true` needs `username` and `password`",
                Some("registration with the carrier is authenticated: add both".into()),
            );
        }
        let failover_after = t
            .get("failover_after")
            .and_then(|v| {
                let d = self.positive(v, "failover_after")?;
                if d >= Duration::from_secs(32) {
                    self.doc.error(
                        v.span(),
                        "`failover_after` must be shorter than 32s",
                        Some("after 32s the INVITE has timed out anyway (Timer B); a few seconds is usual".into()),
                    );
                    return None;
                }
                Some(d)
            })
            .unwrap_or(Duration::from_secs(3));
        let caller_id = t.get("caller_id").and_then(|v| {
            let s = self.doc.string(v, "caller_id")?;
            if !is_e164(&s) {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not an E.164 number"),
                    Some("`+`, then the country code and number: e.g. \"+861058000000\"".into()),
                );
                return None;
            }
            Some(s)
        });
        Some(Outbound {
            gateways,
            username,
            password,
            register,
            options_interval: t
                .get("options_interval")
                .and_then(|v| self.doc.duration_or_off(v, "options_interval"))
                .unwrap_or(Some(Duration::from_secs(30))),
            failover_after,
            caller_id,
        })
    }
}

/// `+` then 2 to 15 digits.
pub(super) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()))
}

/// `sip:IP`, `sip:IP:PORT`, `sip:[IPv6]:PORT` (parameters after `;` ignored) → address.
fn gateway_address(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let rest = rest.split(';').next()?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Some(a);
    }
    let host = rest.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 5060))
}
