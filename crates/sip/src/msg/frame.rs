//! Stream framing (RFC 3261 §18.3): where one message ends in a TCP byte stream.

use super::error::FrameError;
use super::names::Known;

/// Stream framing (TCP): `Ok(Some(len))` when `buf` starts with a whole message of `len`
/// bytes, `Ok(None)` when more bytes are needed, `Err` when the header section can never
/// frame (no or invalid Content-Length) or the message exceeds `max` bytes.
///
/// Leading CRLFs (keep-alives, RFC 5626 §3.5.1) belong to the frame that follows them;
/// `Message::parse` skips them. A buffer holding only CRLFs needs more bytes.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(k) = memchr::memmem::find(&buf[start..], b"\r\n\r\n") else {
        if buf.len() > max {
            return Err(FrameError::TooLarge { limit: max });
        }
        return Ok(None);
    };
    let body_start = start + k + 4;
    let head = &buf[start..start + k + 2];
    let mut length: Option<usize> = None;
    let mut line_start = 0;
    while line_start < head.len() {
        let line_end =
            memchr::memchr(b'\n', &head[line_start..]).map_or(head.len(), |e| line_start + e);
        let line = &head[line_start..line_end];
        let offset = start + line_start;
        line_start = line_end + 1;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || Known::lookup(name.trim_end()) != Some(Known::CONTENT_LENGTH)
        {
            continue;
        }
        let value = std::str::from_utf8(&line[colon + 1..])
            .map(str::trim)
            .map_err(|_| FrameError::BadContentLength { offset })?;
        let n =
            (!value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse::<usize>().ok())
                .flatten()
                .ok_or(FrameError::BadContentLength { offset })?;
        if length.is_some_and(|l| l != n) {
            return Err(FrameError::BadContentLength { offset });
        }
        length = Some(n);
    }
    let length = length.ok_or(FrameError::MissingContentLength)?;
    let total = body_start
        .checked_add(length)
        .filter(|&t| t <= max)
        .ok_or(FrameError::TooLarge { limit: max })?;
    Ok((buf.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\nVia: x\r\n\r\nbody";

    #[test]
    fn frames_by_content_length() {
        assert_eq!(frame_len(MSG, 1000), Ok(Some(MSG.len())));
        assert_eq!(frame_len(&MSG[..MSG.len() - 1], 1000), Ok(None));
        assert_eq!(frame_len(&MSG[..20], 1000), Ok(None));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(frame_len(&two, 1000), Ok(Some(MSG.len())));
        let mut ka = b"\r\n\r\n".to_vec();
        ka.extend_from_slice(MSG);
        assert_eq!(frame_len(&ka, 1000), Ok(Some(MSG.len() + 4)));
    }

    #[test]
    fn refuses_what_cannot_frame() {
        assert_eq!(
            frame_len(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n", 100),
            Err(FrameError::MissingContentLength)
        );
        assert!(matches!(
            frame_len(b"X\r\nContent-Length: -1\r\n\r\n", 100),
            Err(FrameError::BadContentLength { .. })
        ));
        assert_eq!(frame_len(MSG, 20), Err(FrameError::TooLarge { limit: 20 }));
        assert_eq!(
            frame_len(&[b'a'; 50], 20),
            Err(FrameError::TooLarge { limit: 20 })
        );
    }
}
