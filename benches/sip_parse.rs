//! SIP message parsing and printing: switchyard-sip against rsip 0.4 and ezk-sip-types 0.6.
//!
//! Every timed parse also reads the top Via's branch, the From and To tags, Call-ID, CSeq
//! and the Contact URI's port, so a lazy parser cannot win by skipping work.
//!
//! Each parse is timed twice: `sip_parse_cpu/*` on the thread's CPU clock (what one core
//! can do, unaffected by other processes on a shared machine) and `sip_parse_wall/*` on
//! the wall clock. Printing is timed on the CPU clock.
//!
//! `cargo bench -p switchyard-benches --bench sip_parse` times switchyard-sip alone;
//! `cargo bench -p switchyard-benches --features compare --bench sip_parse` adds the two
//! crates in the same run and first prints which torture messages each one accepts.

use std::hint::black_box;

use criterion::{Criterion, Throughput};

#[path = "sip_messages.rs"]
mod sip_messages;
use sip_messages::{INVITE, OK, switchyard_parse};
use switchyard_sip::Message;

#[cfg(feature = "compare")]
mod compare {
    use bytes::Bytes;
    use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, Via};
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    use ezk_sip_types::{Headers, Name};
    use rsip::prelude::*;

    /// rsip: `SipMessage::try_from`, then the typed headers.
    pub(super) fn rsip_parse(bytes: &[u8]) -> Option<usize> {
        let msg = rsip::SipMessage::try_from(bytes).ok()?;
        let via = msg.via_header().ok()?.typed().ok()?;
        let branch = via.branch().map_or(0, |b| b.value().len());
        let from = msg.from_header().ok()?.typed().ok()?;
        let to = msg.to_header().ok()?.typed().ok()?;
        let call_id = msg.call_id_header().ok()?.value().len();
        let cseq = msg.cseq_header().ok()?.typed().ok()?.seq as usize;
        let contact = msg
            .contact_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map_or(0, |c| usize::from(c.uri.host_with_port.port.is_some()));
        Some(
            branch
                + from.tag().map_or(0, |t| t.value().len())
                + to.tag().map_or(0, |t| t.value().len())
                + call_id
                + cseq
                + contact,
        )
    }

    /// ezk-sip-types: the start line, the header lines into `Headers` (as its transport
    /// layer does), the body by Content-Length, then the typed headers.
    pub(super) fn ezk_parse(bytes: &Bytes) -> Option<usize> {
        let mut parser = PullParser::new(bytes, 0);
        let first = std::str::from_utf8(parser.next()?.ok()?).ok()?;
        let (_, _line) = MessageLine::parse(bytes)(first).ok()?;
        let mut headers = Headers::with_capacity(16);
        for line in &mut parser {
            let line = std::str::from_utf8(line.ok()?).ok()?;
            let (_, line) = Line::parse(bytes, line).ok()?;
            headers.insert(line.name, line.value);
        }
        let head_end = parser.head_end();
        let _body = bytes.slice(head_end..);
        let via = headers.get_named::<Via>().ok()?;
        let branch = via.params.get_val("branch").map_or(0, |b| b.len());
        let from = headers.get::<FromTo>(Name::FROM).ok()?;
        let to = headers.get::<FromTo>(Name::TO).ok()?;
        let call_id = headers.get_named::<CallID>().ok()?.0.len();
        let cseq = headers.get_named::<CSeq>().ok()?.cseq as usize;
        let contact = headers
            .get_named::<Vec<Contact>>()
            .ok()
            .and_then(|c| c.into_iter().next())
            .map_or(0, |c| usize::from(c.uri.uri.host_port.port.unwrap_or(0)));
        Some(
            branch
                + from.tag.map_or(0, |t| t.len())
                + to.tag.map_or(0, |t| t.len())
                + call_id
                + cseq
                + contact,
        )
    }

    /// Which torture messages each parser accepts: the message parses and its top Via,
    /// From, To, Call-ID and CSeq decode (a missing branch, tag or Contact is no failure).
    pub(super) fn acceptance() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/sip-torture"
        );
        let dir = std::path::Path::new(dir);
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/fixtures/sip-torture")
        };
        println!("torture acceptance (valid = RFC 4475 §3.1.1 + IPv6 valid):");
        println!("| message | switchyard-sip | rsip 0.4 | ezk-sip-types 0.6 |");
        println!("|---|---|---|---|");
        let mut names: Vec<String> = [
            "wsinv",
            "intmeth",
            "esc01",
            "escnull",
            "esc02",
            "lwsdisp",
            "longreq",
            "dblreq",
            "semiuri",
            "transports",
            "mpart01",
            "unreason",
            "noreason",
        ]
        .iter()
        .map(|n| format!("rfc4475/{n}.dat"))
        .collect();
        names.extend(
            [
                "ipv6-good",
                "port-ambiguous",
                "port-unambiguous",
                "via-received-param-with-delim",
                "via-received-param-no-delim",
                "mult-ip-in-header",
                "mult-ip-in-sdp",
                "ipv6-in-sdp",
                "ipv4-mapped-ipv6",
                "ipv6-correct-abnf-2-colons",
            ]
            .iter()
            .map(|n| format!("rfc5118/{n}")),
        );
        names.extend(
            ["unkscm", "novelsc"]
                .iter()
                .map(|n| format!("rfc4475/{n}.dat")),
        );
        let mut totals = [0; 3];
        for name in &names {
            let Ok(raw) = std::fs::read(dir.join(name)) else {
                println!("| {name} | fixture missing | | |");
                continue;
            };
            let ours = switchyard_sip::Message::parse(&raw).is_ok();
            let r = std::panic::catch_unwind(|| rsip_parse(&raw).is_some()).unwrap_or(false);
            let b = Bytes::from(raw.clone());
            let e = std::panic::catch_unwind(|| ezk_parse(&b).is_some()).unwrap_or(false);
            for (t, ok) in totals.iter_mut().zip([ours, r, e]) {
                *t += usize::from(ok);
            }
            let mark = |ok: bool| if ok { "parses" } else { "REJECTS" };
            println!("| {name} | {} | {} | {} |", mark(ours), mark(r), mark(e));
        }
        println!(
            "| total of {} | {} | {} | {} |",
            names.len(),
            totals[0],
            totals[1],
            totals[2]
        );
    }
}

/// Times `f` on this thread's CPU clock rather than the wall clock: on a shared, loaded
/// machine the wall clock also counts the time other processes hold the core.
fn cpu_iter<R>(b: &mut criterion::Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let start = cpu_time::ThreadTime::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed()
    });
}

fn bench(c: &mut Criterion) {
    for (name, text) in [("invite", INVITE), ("200ok", OK)] {
        let bytes = text.as_bytes();
        #[cfg(feature = "compare")]
        let owned = bytes::Bytes::copy_from_slice(bytes);
        #[cfg(feature = "compare")]
        {
            assert!(compare::rsip_parse(bytes).is_some(), "rsip parses {name}");
            assert!(compare::ezk_parse(&owned).is_some(), "ezk parses {name}");
        }
        for clock in ["cpu", "wall"] {
            let mut g = c.benchmark_group(format!("sip_parse_{clock}/{name}"));
            g.throughput(Throughput::Elements(1));
            let mut run = |id: &str, f: &mut dyn FnMut() -> usize| {
                g.bench_function(id, |b| {
                    if clock == "cpu" {
                        cpu_iter(b, &mut *f)
                    } else {
                        b.iter(&mut *f)
                    }
                });
            };
            run("switchyard-sip", &mut || switchyard_parse(black_box(bytes)));
            #[cfg(feature = "compare")]
            {
                run("rsip", &mut || {
                    compare::rsip_parse(black_box(bytes)).unwrap_or(0)
                });
                // ezk parses from a `Bytes` it slices into; the copy into it is part of the
                // timed work, as the datagram copy is in switchyard-sip.
                run("ezk-sip-types", &mut || {
                    compare::ezk_parse(&bytes::Bytes::copy_from_slice(black_box(&owned[..])))
                        .unwrap_or(0)
                });
            }
            g.finish();
        }

        let msg = Message::parse(bytes).expect("the bench message parses");
        let mut g = c.benchmark_group(format!("sip_print_cpu/{name}"));
        g.throughput(Throughput::Elements(1));
        let mut out = Vec::with_capacity(2048);
        g.bench_function("switchyard-sip", |b| {
            cpu_iter(b, || {
                out.clear();
                black_box(&msg).write_to(&mut out);
                out.len()
            })
        });
        g.finish();
    }
}

fn main() {
    assert!(
        (790..=810).contains(&INVITE.len()),
        "the INVITE is {} bytes",
        INVITE.len()
    );
    #[cfg(feature = "compare")]
    compare::acceptance();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
