//! Parses the benchmark INVITE (or, with `ok` as the second argument, the 200 OK) N times,
//! reading the same fields as the criterion bench. Run under callgrind for a count of
//! instructions per parse that the machine's load does not change:
//!
//! ```sh
//! cargo build --release -p switchyard-benches --example sip_parse_count
//! for n in 1000 11000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n target/release/examples/sip_parse_count $n
//! done
//! # instructions per parse = (Ir at 11000 - Ir at 1000) / 10000
//! ```

#[path = "sip_messages.rs"]
mod sip_messages;

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let msg = match args.next().as_deref() {
        Some("ok") => sip_messages::OK,
        _ => sip_messages::INVITE,
    };
    let mut total = 0usize;
    for _ in 0..n {
        total = total.wrapping_add(sip_messages::switchyard_parse(black_box(msg.as_bytes())));
    }
    println!("{n} parses, checksum {total}");
}
