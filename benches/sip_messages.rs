//! The SIP messages the parse benchmarks use, and what every timed parse reads; shared
//! by `sip_parse.rs` (criterion) and `sip_parse_count.rs` (instruction counts).

use switchyard_sip::Message;

/// A typical INVITE from a softphone through one proxy (800 bytes).
pub(crate) const INVITE: &str = "INVITE sip:+14155550123@pbx.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-a4b6c3f1;rport\r\n\
Via: SIP/2.0/UDP 192.168.1.23:5062;received=198.51.100.7;rport=40211;branch=z9hG4bK-d8754z-77aa1\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:1001@198.51.100.7:40211;transport=udp;ob>\r\n\
To: <sip:+14155550123@pbx.example.com;user=phone>\r\n\
From: \"Agent 1001\" <sip:1001@pbx.example.com>;tag=8f3a2c1b\r\n\
Call-ID: 5f1e8a2c-41d7-4b8e-9c3a-7e6d5b4a3c2f\r\n\
CSeq: 2 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, timer\r\n\
Content-Length: 185\r\n\
\r\n\
v=0\r\n\
o=- 3912345678 3912345679 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

/// The 200 OK answering it, with SDP.
pub(crate) const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-a4b6c3f1;rport=5060\r\n\
Via: SIP/2.0/UDP 192.168.1.23:5062;received=198.51.100.7;rport=40211;branch=z9hG4bK-d8754z-77aa1\r\n\
Record-Route: <sip:203.0.113.10;lr>\r\n\
Contact: <sip:+14155550123@203.0.113.44:5060>\r\n\
To: <sip:+14155550123@pbx.example.com;user=phone>;tag=as5e0f7c1d\r\n\
From: \"Agent 1001\" <sip:1001@pbx.example.com>;tag=8f3a2c1b\r\n\
Call-ID: 5f1e8a2c-41d7-4b8e-9c3a-7e6d5b4a3c2f\r\n\
CSeq: 2 INVITE\r\n\
Server: Switchyard\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n\
Supported: replaces, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 155\r\n\
\r\n\
v=0\r\n\
o=- 1 2 IN IP4 203.0.113.44\r\n\
s=-\r\n\
c=IN IP4 203.0.113.44\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// What every timed parse reads, as lengths summed so nothing is optimised away.
pub(crate) fn switchyard_parse(bytes: &[u8]) -> usize {
    let msg = Message::parse(bytes).expect("the bench message parses");
    let h = msg.headers();
    let via = h.top_via().expect("Via").branch().expect("branch").len();
    let from = h.from().expect("From").tag().map_or(0, str::len);
    let to = h.to().expect("To").tag().map_or(0, str::len);
    let call_id = h.call_id().expect("Call-ID").len();
    let cseq = h.cseq().expect("CSeq").seq as usize;
    let contact = usize::from(h.contacts().as_slice()[0].uri().port().unwrap_or(0));
    via + from + to + call_id + cseq + contact
}
