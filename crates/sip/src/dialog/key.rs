//! Dialog identifiers (RFC 3261 §12): Call-ID, local tag, remote tag.

use std::fmt;

use crate::{Request, Response};

macro_rules! text_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Box<str>);

        impl $name {
            pub fn new(value: &str) -> $name {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    CallId,
    "A Call-ID value (compared byte for byte, RFC 3261 §20.8)."
);
text_id!(Tag, "A From or To `tag` parameter.");

/// Identifies a dialog from this side: Call-ID, our tag, the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogKey {
    pub call_id: CallId,
    pub local_tag: Tag,
    pub remote_tag: Tag,
}

impl DialogKey {
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> DialogKey {
        DialogKey {
            call_id: CallId::new(call_id),
            local_tag: Tag::new(local_tag),
            remote_tag: Tag::new(remote_tag),
        }
    }

    /// The dialog a received request belongs to, when it has a To tag (ours) and a From
    /// tag (the peer's).
    pub fn for_request(req: &Request) -> Option<DialogKey> {
        Some(DialogKey::new(
            req.headers.call_id()?,
            req.headers.to()?.tag()?,
            req.headers.from()?.tag()?,
        ))
    }

    /// The dialog a received response to one of our requests belongs to: our tag is in
    /// From, the peer's in To.
    pub fn for_response(resp: &Response) -> Option<DialogKey> {
        Some(DialogKey::new(
            resp.headers.call_id()?,
            resp.headers.from()?.tag()?,
            resp.headers.to()?.tag()?,
        ))
    }
}

impl fmt::Display for DialogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{};{}", self.call_id, self.local_tag, self.remote_tag)
    }
}
