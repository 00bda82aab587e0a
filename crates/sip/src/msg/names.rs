//! Header names: the ones this crate knows, with their compact forms (RFC 3261 §7.3.3 and
//! the IANA registry).

/// The known header names, spelled as printed.
const TABLE: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Route",
    "Record-Route",
    "Expires",
    "Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Event",
    "Allow-Events",
    "Refer-To",
    "Referred-By",
    "Replaces",
    "Session-Expires",
    "Min-SE",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Subject",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "User-Agent",
    "Server",
    "Date",
    "Timestamp",
    "Min-Expires",
    "Retry-After",
    "Warning",
    "Organization",
    "Priority",
    "Alert-Info",
    "Call-Info",
    "Error-Info",
    "In-Reply-To",
    "Reply-To",
    "MIME-Version",
    "Authentication-Info",
    "RSeq",
    "RAck",
    "Path",
    "Subscription-State",
    "Accept-Contact",
    "Reject-Contact",
    "Request-Disposition",
    "Identity",
    "Identity-Info",
];

/// A known header, as its index in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Known(u8);

impl Known {
    pub(crate) const VIA: Known = Known(0);
    pub(crate) const FROM: Known = Known(1);
    pub(crate) const TO: Known = Known(2);
    pub(crate) const CALL_ID: Known = Known(3);
    pub(crate) const CSEQ: Known = Known(4);
    pub(crate) const CONTACT: Known = Known(5);
    pub(crate) const MAX_FORWARDS: Known = Known(6);
    pub(crate) const CONTENT_LENGTH: Known = Known(7);
    pub(crate) const CONTENT_TYPE: Known = Known(8);
    pub(crate) const ROUTE: Known = Known(9);
    pub(crate) const RECORD_ROUTE: Known = Known(10);
    pub(crate) const EXPIRES: Known = Known(11);
    pub(crate) const ALLOW: Known = Known(16);
    pub(crate) const SUPPORTED: Known = Known(17);
    pub(crate) const USER_AGENT: Known = Known(37);
    pub(crate) const SERVER: Known = Known(38);

    pub(crate) fn index(self) -> u32 {
        u32::from(self.0)
    }

    pub(crate) fn as_str(self) -> &'static str {
        TABLE[self.0 as usize]
    }

    /// Looks a name up, case-insensitively, compact forms included.
    pub(crate) fn lookup(name: &str) -> Option<Known> {
        Known::lookup_bytes(name.as_bytes())
    }

    /// [`Known::lookup`] on the bytes of a name.
    pub(crate) fn lookup_bytes(name: &[u8]) -> Option<Known> {
        if name.len() == 1 {
            let full = match name[0].to_ascii_lowercase() {
                b'a' => "Accept-Contact",
                b'b' => "Referred-By",
                b'c' => "Content-Type",
                b'd' => "Request-Disposition",
                b'e' => "Content-Encoding",
                b'f' => "From",
                b'i' => "Call-ID",
                b'j' => "Reject-Contact",
                b'k' => "Supported",
                b'l' => "Content-Length",
                b'm' => "Contact",
                b'n' => "Identity-Info",
                b'o' => "Event",
                b'r' => "Refer-To",
                b's' => "Subject",
                b't' => "To",
                b'u' => "Allow-Events",
                b'v' => "Via",
                b'x' => "Session-Expires",
                b'y' => "Identity",
                _ => return None,
            };
            return Known::lookup(full);
        }
        let b = name;
        // Fast path for the headers on every message, spelled as usual.
        let quick = match (b.len(), b.first()?) {
            (3, b'V') if b == b"Via" => Some(Known::VIA),
            (4, b'F') if b == b"From" => Some(Known::FROM),
            (2, b'T') if b == b"To" => Some(Known::TO),
            (7, b'C') if b == b"Call-ID" => Some(Known::CALL_ID),
            (4, b'C') if b == b"CSeq" => Some(Known::CSEQ),
            (7, b'C') if b == b"Contact" => Some(Known::CONTACT),
            (12, b'M') if b == b"Max-Forwards" => Some(Known::MAX_FORWARDS),
            (14, b'C') if b == b"Content-Length" => Some(Known::CONTENT_LENGTH),
            (12, b'C') if b == b"Content-Type" => Some(Known::CONTENT_TYPE),
            (5, b'R') if b == b"Route" => Some(Known::ROUTE),
            (12, b'R') if b == b"Record-Route" => Some(Known::RECORD_ROUTE),
            (7, b'E') if b == b"Expires" => Some(Known::EXPIRES),
            (5, b'A') if b == b"Allow" => Some(Known::ALLOW),
            (9, b'S') if b == b"Supported" => Some(Known::SUPPORTED),
            (10, b'U') if b == b"User-Agent" => Some(Known::USER_AGENT),
            (6, b'S') if b == b"Server" => Some(Known::SERVER),
            _ => None,
        };
        if quick.is_some() {
            return quick;
        }
        let first = b[0].to_ascii_lowercase();
        TABLE
            .iter()
            .position(|k| {
                k.len() == name.len()
                    && k.as_bytes()[0].to_ascii_lowercase() == first
                    && k.as_bytes().eq_ignore_ascii_case(name)
            })
            .map(|i| Known(i as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(Known::lookup("v"), Some(Known::VIA));
        assert_eq!(Known::lookup("I"), Some(Known::CALL_ID));
        assert_eq!(Known::lookup("call-id"), Some(Known::CALL_ID));
        assert_eq!(Known::lookup("l"), Some(Known::CONTENT_LENGTH));
        assert_eq!(Known::lookup("cseq"), Some(Known::CSEQ));
        assert_eq!(Known::lookup("X-Custom"), None);
        assert_eq!(
            Known::lookup("x").map(Known::as_str),
            Some("Session-Expires")
        );
        assert_eq!(
            Known::lookup("p-asserted-identity").map(Known::as_str),
            Some("P-Asserted-Identity")
        );
    }

    #[test]
    fn fixed_indices_match_table() {
        for (k, n) in [
            (Known::VIA, "Via"),
            (Known::FROM, "From"),
            (Known::TO, "To"),
            (Known::CALL_ID, "Call-ID"),
            (Known::CSEQ, "CSeq"),
            (Known::CONTACT, "Contact"),
            (Known::MAX_FORWARDS, "Max-Forwards"),
            (Known::CONTENT_LENGTH, "Content-Length"),
            (Known::CONTENT_TYPE, "Content-Type"),
            (Known::ROUTE, "Route"),
            (Known::RECORD_ROUTE, "Record-Route"),
            (Known::EXPIRES, "Expires"),
            (Known::ALLOW, "Allow"),
            (Known::SUPPORTED, "Supported"),
            (Known::USER_AGENT, "User-Agent"),
            (Known::SERVER, "Server"),
        ] {
            assert_eq!(k.as_str(), n);
        }
    }
}
