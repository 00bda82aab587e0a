//! Requests, responses, and the one-pass message parser and printer.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use smallvec::SmallVec;

use super::error::{Fail, PResult, ParseError};
use super::headers::{Headers, Name, Val};
use super::method::Method;
use super::names::Known;
use super::scan::{is_ws, skip_token, skip_ws};
use super::text::Text;
use super::uri::Uri;

/// A SIP request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The method of the Request-Line.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers.
    pub headers: Headers,
    /// The body (Content-Length is printed from its length).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The status code, 100–699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Prints the request, with Content-Length set from the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_str().as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        self.headers.write_to(out, self.body.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }

    /// The printed request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// A response with no headers and no body.
    pub fn new(status: u16, reason: &str) -> Response {
        Response {
            status,
            reason: reason.replace(['\r', '\n'], " "),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// RFC 3261 §8.2.6: copies Via (all), From, To, Call-ID, CSeq; adds nothing else.
    pub fn for_request(req: &Request, status: u16, reason: &str) -> Response {
        Response {
            headers: req.headers.for_response(),
            ..Response::new(status, reason)
        }
    }

    /// Prints the response, with Content-Length set from the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(out, self.body.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }

    /// The printed response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Message {
    /// Parses one whole message (a datagram, or a frame cut by [`frame_len`](crate::frame_len)).
    /// Leading CRLFs are skipped; bytes after the Content-Length body are ignored.
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        let start = datagram
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(datagram.len());
        let response = datagram[start..]
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
        parse_at(datagram, start).map_err(|f| ParseError::at(datagram, f, response))
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The headers, mutable.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// Prints the message, with Content-Length set from the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// The printed message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}

/// `SIP-Version`: `SIP/2.0` (case-insensitive); another `SIP/x.y` earns 505.
fn check_version(v: &str, at: usize) -> PResult<()> {
    // Nearly always written in capitals: one fixed-size comparison.
    if v == "SIP/2.0" || v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let b = v.as_bytes();
    let numeric = b.len() > 4
        && b[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].split_once('.').is_some_and(|(a, z)| {
            !a.is_empty()
                && !z.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && z.bytes().all(|c| c.is_ascii_digit())
        });
    if numeric {
        Err(Fail::new(at, "SIP/2.0").with_status(505))
    } else {
        Err(Fail::new(at, "SIP/2.0"))
    }
}

/// Where the header section ends: the index of the empty line's CRLF (or LF).
fn header_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    static EMPTY_LINE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    static BARE_LF: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\n\n"));
    match EMPTY_LINE.find(&b[from..]) {
        Some(k) => Some((from + k + 2, from + k + 4)),
        // Bare-LF line ends (not RFC 3261, but seen): only when no CRLF CRLF is present.
        None => BARE_LF
            .find(&b[from..])
            .map(|k| (from + k + 1, from + k + 2)),
    }
}

/// Finds the next CR or LF. One search per header line: on x86-64 the AVX2 searcher is
/// built once per message and called directly, skipping the per-call dispatch.
struct LineEnds {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::Two>,
}

impl LineEnds {
    #[inline]
    fn new() -> LineEnds {
        LineEnds {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::Two::new(b'\r', b'\n'),
        }
    }

    #[inline]
    fn next(&self, h: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(two) = &self.avx2 {
            return two.find(h);
        }
        memchr::memchr2(b'\r', b'\n', h)
    }
}

/// Line ends (the index of each CR) of a header section whose lines all end in CRLF and
/// none is folded, and the index of the empty line that ends it. `None` for anything else
/// (bare LF, lone CR, folding, no empty line): the general path handles those, so both
/// paths accept and reject the same messages.
fn crlf_lines(d: &[u8]) -> Option<(SmallVec<[u32; 32]>, usize)> {
    let find = LineEnds::new();
    let mut ends = SmallVec::new();
    let mut line = 0;
    loop {
        let k = line + find.next(d.get(line..)?)?;
        if d[k] != b'\r' || d.get(k + 1) != Some(&b'\n') {
            return None;
        }
        if k == line {
            return Some((ends, k));
        }
        if d.get(k + 2).copied().is_some_and(is_ws) {
            return None;
        }
        ends.push(u32::try_from(k).ok()?);
        line = k + 2;
    }
}

fn parse_at(datagram: &[u8], start: usize) -> PResult<Message> {
    // The common case in one scan: line ends found once, used for the header end and
    // again for each header line.
    let lines = crlf_lines(&datagram[start..]);
    let bounds = match &lines {
        Some((_, k)) => Some((start + k, start + k + 2)),
        None => header_end(datagram, start),
    };
    let Some((head_end, body_start)) = bounds else {
        return Err(Fail::new(
            datagram.len(),
            "an empty line ending the headers",
        ));
    };
    // Checked with a vectorised validator (several times quicker than the standard one on
    // a header section); where the fault is, only when there is one.
    let raw = &datagram[start..head_end];
    let head = simdutf8::basic::from_utf8(raw).map_err(|_| {
        let at = std::str::from_utf8(raw).map_or_else(|e| e.valid_up_to(), str::len);
        Fail::new(start + at, "UTF-8 text in the headers")
    })?;
    let buf: Arc<str> = Arc::from(head);
    let h = buf.as_bytes();
    // Offsets below are relative to `buf`; errors are shifted by `start`.
    let parse = || -> PResult<Message> {
        let (first_end, line_end) = match &lines {
            Some((ends, _)) => (ends[0] as usize, ends[0] as usize + 1),
            None => {
                let line_end =
                    memchr::memchr(b'\n', h).expect("the header section ends with a line");
                if line_end > 0 && h[line_end - 1] == b'\r' {
                    (line_end - 1, line_end)
                } else {
                    (line_end, line_end)
                }
            }
        };
        let first = &buf[..first_end];
        let is_response = first.as_bytes()[..4.min(first.len())].eq_ignore_ascii_case(b"SIP/");
        // Built in place: the headers are parsed straight into the message.
        let headers = Headers::parsing();
        let mut msg = if is_response {
            let (status, reason) = parse_status_line(first)?;
            Message::Response(Response {
                status,
                reason,
                headers,
                body: Bytes::new(),
            })
        } else {
            let (method, uri) = parse_request_line(&buf, first_end)?;
            Message::Request(Request {
                method,
                uri,
                headers,
                body: Bytes::new(),
            })
        };
        let headers = msg.headers_mut();
        match &lines {
            Some((ends, _)) => parse_crlf_headers(&buf, line_end + 1, &ends[1..], headers)?,
            None => parse_headers(&buf, line_end + 1, headers)?,
        }
        let missing = [
            (headers.vias().is_empty(), "a Via header"),
            (headers.from().is_none(), "a From header"),
            (headers.to().is_none(), "a To header"),
            (!headers.has(Known::CALL_ID), "a Call-ID header"),
            (headers.cseq_ref().is_none(), "a CSeq header"),
        ];
        if let Some((_, what)) = missing.iter().find(|(m, _)| *m) {
            return Err(Fail::new(h.len(), what));
        }
        let rest = &datagram[body_start..];
        let body_len = match headers.content_length() {
            Some(n) if n > rest.len() => {
                return Err(Fail::new(
                    h.len().saturating_sub(1),
                    "a Content-Length no larger than the body",
                ));
            }
            Some(n) => n,
            None => rest.len(),
        };
        let body = Bytes::copy_from_slice(&rest[..body_len]);
        match &mut msg {
            Message::Response(r) => r.body = body,
            Message::Request(r) => {
                let cseq = r.headers.cseq_ref().expect("checked present");
                if cseq.method != r.method {
                    let status = if r.method.is_known() { 400 } else { 501 };
                    return Err(Fail::new(0, "the CSeq method to match the request method")
                        .with_status(status));
                }
                r.body = body;
            }
        }
        Ok(msg)
    };
    let mut msg = parse().map_err(|f| f.shift(start))?;
    msg.headers_mut().set_buf(buf);
    Ok(msg)
}

/// `Method SP Request-URI SP SIP-Version`, each separated by exactly one SP.
fn parse_request_line(buf: &Arc<str>, end: usize) -> PResult<(Method, Uri)> {
    let line = &buf[..end];
    let b = line.as_bytes();
    let sp1 = memchr::memchr(b' ', b).ok_or(Fail::new(end, "a Request-Line"))?;
    let sp2 = memchr::memrchr(b' ', b).expect("one SP found");
    if sp1 == sp2 {
        return Err(Fail::new(end, "SP SIP-Version after the Request-URI"));
    }
    let method = Method::parse(&line[..sp1])?;
    // Whitespace inside the Request-URI is reported before any other fault of the line.
    // No URI parses with whitespace in it, so it is looked for only when something failed.
    let whitespace = |other: Fail| match b[sp1 + 1..sp2].iter().position(|&c| is_ws(c)) {
        Some(bad) => Fail::new(sp1 + 1 + bad, "a Request-URI without whitespace"),
        None => other,
    };
    check_version(&line[sp2 + 1..], sp2 + 1).map_err(whitespace)?;
    let uri = Uri::parse_text(Text::slice(buf, sp1 + 1, sp2))
        .map_err(|f| whitespace(f.shift(sp1 + 1)))?;
    if uri.headers().is_some() {
        return Err(Fail::new(sp1 + 1, "a Request-URI without headers"));
    }
    Ok((method, uri))
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`.
fn parse_status_line(line: &str) -> PResult<(u16, String)> {
    let b = line.as_bytes();
    let sp1 = memchr::memchr(b' ', b).ok_or(Fail::new(line.len(), "a Status-Line"))?;
    check_version(&line[..sp1], 0)?;
    let code_end = b[sp1 + 1..]
        .iter()
        .position(|&c| c == b' ')
        .map_or(b.len(), |k| sp1 + 1 + k);
    let code = &line[sp1 + 1..code_end];
    let status = (code.len() == 3 && code.bytes().all(|c| c.is_ascii_digit()))
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|s| (100..700).contains(s))
        .ok_or(Fail::new(sp1 + 1, "a status code 100-699"))?;
    let reason = line.get(code_end + 1..).unwrap_or("");
    if let Some(bad) = reason.bytes().position(|c| c < b' ' && c != b'\t') {
        return Err(Fail::new(code_end + 1 + bad, "a reason phrase"));
    }
    Ok((status, reason.to_owned()))
}

/// `token *WS ":"` at `i`: the end of the name and the index of the colon.
fn header_name(h: &[u8], i: usize) -> PResult<(usize, usize)> {
    let name_end = skip_token(h, i);
    if name_end == i {
        return Err(Fail::new(i, "a header name token"));
    }
    let colon = skip_ws(h, name_end);
    if h.get(colon) != Some(&b':') {
        return Err(Fail::new(colon, "':' after a header name"));
    }
    Ok((name_end, colon))
}

/// A header line that starts with a common name spelled as usual and directly followed by
/// its colon: the name and its length. Decided from the first bytes and one comparison,
/// without scanning the name's characters (which are all token characters).
#[inline]
fn common_name(line: &[u8]) -> Option<(Known, usize)> {
    /// `name` and a colon start the line: compared as fixed-size arrays, inline.
    #[inline(always)]
    fn is<const N: usize>(line: &[u8], k: Known, name: &[u8; N]) -> Option<(Known, usize)> {
        let head: &[u8; N] = line.get(..N)?.try_into().ok()?;
        (head == name && line.get(N) == Some(&b':')).then_some((k, N))
    }
    match (line.first()?, line.get(1)?) {
        (b'V', _) => is(line, Known::VIA, b"Via"),
        (b'F', _) => is(line, Known::FROM, b"From"),
        (b'T', _) => is(line, Known::TO, b"To"),
        (b'C', b'a') => is(line, Known::CALL_ID, b"Call-ID"),
        (b'C', b'S') => is(line, Known::CSEQ, b"CSeq"),
        (b'C', b'o') => match line.get(7) {
            Some(b':') => is(line, Known::CONTACT, b"Contact"),
            Some(b'-') => match line.get(8) {
                Some(b'L') => is(line, Known::CONTENT_LENGTH, b"Content-Length"),
                Some(b'T') => is(line, Known::CONTENT_TYPE, b"Content-Type"),
                _ => None,
            },
            _ => None,
        },
        (b'M', _) => is(line, Known::MAX_FORWARDS, b"Max-Forwards"),
        (b'R', b'o') => is(line, Known::ROUTE, b"Route"),
        (b'R', b'e') => is(line, Known::RECORD_ROUTE, b"Record-Route"),
        (b'E', _) => is(line, Known::EXPIRES, b"Expires"),
        (b'A', _) => is(line, Known::ALLOW, b"Allow"),
        (b'S', b'u') => is(line, Known::SUPPORTED, b"Supported"),
        (b'S', b'e') => is(line, Known::SERVER, b"Server"),
        (b'U', _) => is(line, Known::USER_AGENT, b"User-Agent"),
        _ => None,
    }
}

/// Adds the header whose name is `i..name_end` and whose value runs from after the colon
/// to `line_end` (`folded` when that range holds line folds).
#[inline(always)]
fn add_header(
    buf: &Arc<str>,
    (i, name_end, colon, line_end): (usize, usize, usize, usize),
    known: Option<Known>,
    folded: bool,
    headers: &mut Headers,
) -> PResult<()> {
    let h = buf.as_bytes();
    let name = match known.or_else(|| Known::lookup_bytes(&h[i..name_end])) {
        Some(k) => Name::Known(k),
        None => Name::Other(Val::at(i, name_end)),
    };
    let mut v0 = colon + 1;
    let value = if folded {
        let unfolded = unfold(&buf[v0..line_end]);
        Val::Own(unfolded.trim_matches([' ', '\t']).into())
    } else {
        let v = &h[..line_end];
        // Usually one space after the colon and none at the end.
        if v.get(v0) == Some(&b' ') {
            v0 += 1;
        }
        while v0 < v.len() && is_ws(v[v0]) {
            v0 += 1;
        }
        let mut v1 = v.len();
        while v1 > v0 && is_ws(v[v1 - 1]) {
            v1 -= 1;
        }
        Val::at(v0, v1)
    };
    if folded {
        while v0 < line_end && matches!(h[v0], b' ' | b'\t' | b'\r' | b'\n') {
            v0 += 1;
        }
    }
    headers.add_parsed(Some(buf), name, value).map_err(|f| {
        Fail::new(v0 + if folded { 0 } else { f.at }, f.expected).with_status(f.status)
    })
}

/// Parses header lines from `i` whose line ends (CRLF, no folding) are already known.
fn parse_crlf_headers(
    buf: &Arc<str>,
    mut i: usize,
    ends: &[u32],
    headers: &mut Headers,
) -> PResult<()> {
    let h = buf.as_bytes();
    for &end in ends {
        let end = end as usize;
        let (name_end, colon, known) = match common_name(&h[i..end]) {
            Some((k, len)) => (i + len, i + len, Some(k)),
            None => {
                let (name_end, colon) = header_name(h, i)?;
                (name_end, colon, None)
            }
        };
        add_header(buf, (i, name_end, colon, end), known, false, headers)?;
        i = end + 2;
    }
    Ok(())
}

/// Parses the header lines from `i` to the end of `buf` (which ends with the last line's
/// line end), unfolding continuation lines.
fn parse_headers(buf: &Arc<str>, mut i: usize, headers: &mut Headers) -> PResult<()> {
    let h = buf.as_bytes();
    while i < h.len() {
        let (name_end, colon) = header_name(h, i)?;
        // One logical line: physical lines joined while the next starts with SP/HTAB.
        // A CR is only ever part of a line end.
        let mut end = colon + 1;
        let mut folded = false;
        let (line_end, next) = loop {
            let k = memchr::memchr2(b'\r', b'\n', &h[end..]).map_or(h.len(), |k| end + k);
            let after = match h.get(k) {
                None => k,
                Some(b'\r') if h.get(k + 1) == Some(&b'\n') => k + 2,
                Some(b'\r') => return Err(Fail::new(k, "LF after CR")),
                Some(_) => k + 1,
            };
            if after < h.len() && is_ws(h[after]) {
                folded = true;
                end = after;
                continue;
            }
            break (k, after);
        };
        add_header(buf, (i, name_end, colon, line_end), None, folded, headers)?;
        i = next;
    }
    Ok(())
}

/// Replaces each line fold (CRLF or LF followed by SP/HTAB) with a single space.
fn unfold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find('\n') {
        let before = rest[..k].strip_suffix('\r').unwrap_or(&rest[..k]);
        out.push_str(before.trim_end_matches([' ', '\t']));
        out.push(' ');
        rest = rest[k + 1..].trim_start_matches([' ', '\t']);
    }
    out.push_str(rest);
    out
}
