//! The SIP message layer: parsing, typed header access and printing.
//!
//! A hand-written, one-pass parser over one shared buffer per message: header values are
//! ranges of it; Via, From, To, Contact and Content-Length are parsed eagerly (they decide
//! whether a message is valid), every other header is kept verbatim in order.

mod auth;
mod error;
mod frame;
mod headers;
mod message;
mod method;
mod name_addr;
mod names;
mod reject;
mod scan;
mod text;
mod typed;
mod uri;
mod via;

pub use auth::{Challenge, Credentials};
pub use error::{FrameError, ParseError};
pub use frame::frame_len;
pub use headers::Headers;
pub use message::{Message, Request, Response};
pub use method::Method;
pub use name_addr::{Contact, Contacts, NameAddr};
pub use reject::reject_unparsable;
pub use typed::{CSeq, Refresher, SessionExpires};
pub use uri::{Host, Scheme, Uri};
pub use via::Via;

#[cfg(test)]
mod tests;
