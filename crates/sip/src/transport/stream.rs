//! Framing a byte stream (TCP) into SIP messages (RFC 3261 §18.3), with a size limit and
//! RFC 5626 §4.4.1 CRLF keep-alives.

use crate::{FrameError, frame_len};

/// What a stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// One whole message.
    Message(Vec<u8>),
    /// A double-CRLF keep-alive ping: answer with a single CRLF.
    Ping,
    /// A message over the size limit: its first bytes (at most the limit), to answer 513
    /// when the headers can be read. Nothing more comes from this stream: close it.
    Oversized { head: Vec<u8> },
    /// The stream cannot be framed (e.g. no Content-Length): close it.
    Unframeable(FrameError),
}

/// Accumulates bytes read from a stream and yields whole messages.
///
/// ```
/// use switchyard_sip::transport::{StreamFramer, StreamItem};
///
/// let mut f = StreamFramer::new(64 * 1024);
/// f.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n");
/// assert_eq!(f.poll(), Some(StreamItem::Ping));
/// assert_eq!(f.poll(), None); // the header section is not complete yet
/// f.push(b"\r\n");
/// assert!(matches!(f.poll(), Some(StreamItem::Message(_))));
/// ```
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max: usize,
    done: bool,
}

impl StreamFramer {
    /// `max`: the largest message accepted, in bytes.
    pub fn new(max: usize) -> StreamFramer {
        StreamFramer {
            buf: Vec::new(),
            max,
            done: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if !self.done {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next item, or `None` until more bytes are pushed.
    pub fn poll(&mut self) -> Option<StreamItem> {
        if self.done {
            return None;
        }
        // CRLFs between messages: a double one is a ping, a single one (a pong, or
        // padding that RFC 3261 §7.5 says to ignore) is skipped.
        while self.buf.starts_with(b"\r\n") {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.drain(..4);
                return Some(StreamItem::Ping);
            }
            if b"\r\n\r\n".starts_with(&self.buf) {
                return None;
            }
            self.buf.drain(..2);
        }
        if self.buf.is_empty() {
            return None;
        }
        match frame_len(&self.buf, self.max) {
            Ok(Some(n)) => Some(StreamItem::Message(self.buf.drain(..n).collect())),
            Ok(None) if self.buf.len() > self.max => Some(self.oversized()),
            Ok(None) => None,
            Err(FrameError::TooLarge { .. }) => Some(self.oversized()),
            Err(err) => {
                self.done = true;
                self.buf = Vec::new();
                Some(StreamItem::Unframeable(err))
            }
        }
    }

    fn oversized(&mut self) -> StreamItem {
        self.done = true;
        let mut head = std::mem::take(&mut self.buf);
        head.truncate(self.max);
        StreamItem::Oversized { head }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let mut stream = Vec::new();
        stream.extend_from_slice(OPTIONS);
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(OPTIONS);
        for cut in 1..stream.len() {
            let mut f = StreamFramer::new(4096);
            let mut got = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                f.push(chunk);
                while let Some(item) = f.poll() {
                    got.push(item);
                }
            }
            assert_eq!(
                got,
                vec![
                    StreamItem::Message(OPTIONS.to_vec()),
                    StreamItem::Ping,
                    StreamItem::Message(OPTIONS.to_vec())
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn single_crlf_is_skipped() {
        let mut f = StreamFramer::new(4096);
        f.push(b"\r\n");
        assert_eq!(f.poll(), None);
        f.push(OPTIONS);
        assert_eq!(f.poll(), Some(StreamItem::Message(OPTIONS.to_vec())));
    }

    #[test]
    fn oversized_message_yields_its_head_and_ends_the_stream() {
        let mut f = StreamFramer::new(100);
        f.push(OPTIONS);
        let Some(StreamItem::Oversized { head }) = f.poll() else {
            panic!("expected Oversized");
        };
        assert_eq!(head, OPTIONS[..100].to_vec());
        f.push(OPTIONS);
        assert_eq!(f.poll(), None);
    }

    #[test]
    fn endless_header_section_is_oversized() {
        let mut f = StreamFramer::new(64);
        f.push(b"OPTIONS sip:a@example.com SIP/2.0\r\n");
        assert_eq!(f.poll(), None);
        f.push(&[b'X'; 100]);
        assert!(matches!(f.poll(), Some(StreamItem::Oversized { .. })));
    }

    #[test]
    fn message_without_content_length_cannot_be_framed() {
        let mut f = StreamFramer::new(4096);
        f.push(b"OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: c\r\n\r\n");
        assert!(matches!(f.poll(), Some(StreamItem::Unframeable(_))));
        assert_eq!(f.poll(), None);
    }
}
