//! Transaction lookup among 100,000 live transactions: what the transaction layer costs
//! per message once the message is parsed.
//!
//! - `retransmitted_request`: a REGISTER retransmission reaches one of 100,000 non-INVITE
//!   server transactions in Completed and gets the stored 200 again;
//! - `response`: a 180 reaches one of 100,000 INVITE client transactions in Proceeding
//!   (absorbed as a repeat after the first);
//! - `new_request`: a REGISTER creates a server transaction, is answered, and the answer
//!   is drained (the full life of a registrar hit, minus parsing and Timer J).
//!
//! Every timed iteration parses the datagram first; `parse_only/*` times that alone, in the
//! same run, so the transaction layer's share is the difference. Times are taken on the
//! thread's CPU clock: on a shared machine the wall clock also counts the time other
//! processes hold the core.
//!
//! `cargo bench -p switchyard-benches --bench sip_transactions`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_sip::transaction::{TransactionConfig, TransactionLayer, Transport, TsxEvent};
use switchyard_sip::{Message, Request, Response};

const LIVE: usize = 100_000;

fn register(i: usize) -> Request {
    let text = format!(
        "REGISTER sip:switchyard.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.1.{}.{}:5060;rport;branch=z9hG4bK{i:016x}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:agent{i}@switchyard.example>\r\n\
         From: <sip:agent{i}@switchyard.example>;tag=f{i}\r\n\
         Call-ID: reg-{i}@10.1.0.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:agent{i}@10.1.0.1:5060>;expires=3600\r\n\
         Content-Length: 0\r\n\r\n",
        (i >> 8) & 0xff,
        i & 0xff
    );
    match Message::parse(text.as_bytes()).expect("valid REGISTER") {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn invite(layer: &mut TransactionLayer, i: usize) -> Request {
    let branch = layer.new_branch();
    let text = format!(
        "INVITE sip:agent{i}@10.2.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:agent{i}@switchyard.example>\r\n\
         From: <sip:queue@switchyard.example>;tag=q{i}\r\n\
         Call-ID: call-{i}@switchyard\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:switchyard@10.0.0.1:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match Message::parse(text.as_bytes()).expect("valid INVITE") {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn remote() -> SocketAddr {
    "10.1.0.1:5060".parse().expect("address")
}

fn drain(layer: &mut TransactionLayer) -> usize {
    let mut n = 0;
    while let Some(t) = layer.poll_transmit() {
        black_box(t);
        n += 1;
    }
    while let Some(e) = layer.poll_event() {
        black_box(e);
        n += 1;
    }
    n
}

/// A layer holding `live` completed REGISTER server transactions; returns the requests.
fn server_layer(now: Instant, live: usize) -> (TransactionLayer, Vec<Request>) {
    let mut layer = TransactionLayer::new(TransactionConfig::default());
    let mut reqs = Vec::with_capacity(live);
    for i in 0..live {
        let req = register(i);
        layer.handle_receive(now, Message::Request(req.clone()), remote(), Transport::Udp);
        let Some(TsxEvent::Request { key, .. }) = layer.poll_event() else {
            panic!("new request expected")
        };
        let mut ok = Response::for_request(&req, 200, "OK");
        ok.headers.to_mut().expect("To").set_tag("reg");
        layer
            .send_response(now, &key, ok)
            .expect("fresh transaction");
        drain(&mut layer);
        reqs.push(req);
    }
    (layer, reqs)
}

/// A layer holding `LIVE` INVITE client transactions in Proceeding; returns a 180 for each.
fn client_layer(now: Instant) -> (TransactionLayer, Vec<Response>) {
    let mut layer = TransactionLayer::new(TransactionConfig::default());
    let mut ringing = Vec::with_capacity(LIVE);
    for i in 0..LIVE {
        let inv = invite(&mut layer, i);
        let mut r = Response::for_request(&inv, 180, "Ringing");
        r.headers.to_mut().expect("To").set_tag("agent");
        layer
            .send_request(now, inv, remote(), Transport::Udp)
            .expect("unique branch");
        layer.handle_receive(now, Message::Response(r.clone()), remote(), Transport::Udp);
        drain(&mut layer);
        ringing.push(r);
    }
    (layer, ringing)
}

fn bytes_of(m: impl Into<Message>) -> Vec<u8> {
    m.into().to_bytes()
}

fn parse(datagram: &[u8]) -> Message {
    Message::parse(datagram).expect("valid message")
}

/// Cycles through the datagrams in a cache-unfriendly order, as traffic would.
struct Cycle<'a> {
    items: &'a [Vec<u8>],
    i: usize,
}

impl<'a> Cycle<'a> {
    fn new(items: &'a [Vec<u8>]) -> Self {
        Cycle { items, i: 0 }
    }
    fn next_item(&mut self) -> &'a [u8] {
        self.i = (self.i + 7919) % self.items.len();
        &self.items[self.i]
    }
}

/// Times `f` on this thread's CPU clock rather than the wall clock.
fn cpu_iter<R>(b: &mut criterion::Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let start = cpu_time::ThreadTime::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed()
    });
}

fn lookup(c: &mut Criterion) {
    let now = Instant::now();
    // Everything happens within the first second: no timer is due, every transaction lives.
    let at = now + Duration::from_millis(100);
    let mut group = c.benchmark_group("sip_transactions");
    group.throughput(Throughput::Elements(1));

    // Each timed iteration parses the datagram, as the daemon does; `parse_only` measures
    // that part alone, so the transaction layer's share is the difference.
    // The same with 1,000 live transactions: everything stays in cache, which shows how
    // much of the 100,000 case is memory latency.
    let (mut small, small_reqs) = server_layer(now, 1_000);
    let small_bytes: Vec<Vec<u8>> = small_reqs.into_iter().map(bytes_of).collect();
    let mut cycle = Cycle::new(&small_bytes);
    group.bench_function("parse_only/register_1k", |b| {
        cpu_iter(b, || parse(cycle.next_item()))
    });
    let mut cycle = Cycle::new(&small_bytes);
    group.bench_function("retransmitted_request/1k_live", |b| {
        cpu_iter(b, || {
            let m = parse(cycle.next_item());
            small.handle_receive(at, m, remote(), Transport::Udp);
            assert_eq!(drain(&mut small), 1, "the stored 200 again");
        })
    });
    drop(small);

    let (mut layer, reqs) = server_layer(now, LIVE);
    assert_eq!(layer.len(), LIVE);
    let req_bytes: Vec<Vec<u8>> = reqs.iter().cloned().map(bytes_of).collect();
    drop(reqs);
    let mut cycle = Cycle::new(&req_bytes);
    group.bench_function("parse_only/register", |b| {
        cpu_iter(b, || parse(cycle.next_item()))
    });
    let mut cycle = Cycle::new(&req_bytes);
    group.bench_function("retransmitted_request/100k_live", |b| {
        cpu_iter(b, || {
            let m = parse(cycle.next_item());
            layer.handle_receive(at, m, remote(), Transport::Udp);
            assert_eq!(drain(&mut layer), 1, "the stored 200 again");
        })
    });
    drop(layer);

    let (mut layer, ringing) = client_layer(now);
    assert_eq!(layer.len(), LIVE);
    let ringing_bytes: Vec<Vec<u8>> = ringing.iter().cloned().map(bytes_of).collect();
    drop(ringing);
    let mut cycle = Cycle::new(&ringing_bytes);
    group.bench_function("parse_only/ringing", |b| {
        cpu_iter(b, || parse(cycle.next_item()))
    });
    let mut cycle = Cycle::new(&ringing_bytes);
    group.bench_function("response/100k_live", |b| {
        cpu_iter(b, || {
            let m = parse(cycle.next_item());
            layer.handle_receive(at, m, remote(), Transport::Udp);
            drain(&mut layer);
        })
    });
    drop(layer);

    let (mut layer, _) = server_layer(now, LIVE);
    // One datagram whose 16 hex digits of branch are rewritten each time: a new
    // transaction every iteration.
    let mut datagram = bytes_of(register(LIVE));
    let at_branch = datagram
        .windows(7)
        .position(|w| w == b"z9hG4bK")
        .expect("branch")
        + 7;
    let mut n: u64 = 1 << 40;
    group.bench_function("new_request/100k_live", |b| {
        cpu_iter(b, || {
            n += 1;
            for (k, d) in datagram[at_branch..at_branch + 16].iter_mut().enumerate() {
                *d = b"0123456789abcdef"[((n >> (60 - 4 * k)) & 0xf) as usize];
            }
            let Message::Request(req) = parse(&datagram) else {
                unreachable!()
            };
            let mut ok = Response::for_request(&req, 200, "OK");
            ok.headers.to_mut().expect("To").set_tag("reg");
            layer.handle_receive(at, Message::Request(req), remote(), Transport::Udp);
            let Some(TsxEvent::Request { key, .. }) = layer.poll_event() else {
                panic!("new request expected")
            };
            layer
                .send_response(at, &key, ok)
                .expect("fresh transaction");
            drain(&mut layer);
        })
    });
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
