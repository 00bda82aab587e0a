//! Dialogs (RFC 3261 §12) for UAC and UAS, with session timers (RFC 4028), sans-IO.
//!
//! A [`Dialog`] holds what RFC 3261 calls the dialog state: [`DialogKey`] (Call-ID, local
//! and remote tag), local and remote URI, local and remote CSeq, remote target and route
//! set. It builds in-dialog requests ([`Dialog::request`], [`Dialog::ack`]), checks
//! incoming ones ([`Dialog::handle_request`]: CSeq order, `Require`), and follows
//! responses ([`Dialog::handle_response`]). Session timers run on the time the caller
//! gives: [`Dialog::poll_timeout`], [`Dialog::handle_timeout`], [`Dialog::poll_event`].
//!
//! The dialog never sends anything itself: requests it builds go through the
//! [`TransactionLayer`](crate::transaction::TransactionLayer), to the address the caller
//! resolves from [`Dialog::next_hop`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_sip::dialog::{Dialog, DialogEvent, LocalVia, SessionTimerConfig, Tag};
//! use switchyard_sip::transaction::{Branch, Transport};
//! use switchyard_sip::{Message, Method, NameAddr};
//!
//! let Message::Request(invite) = Message::parse(
//!     b"INVITE sip:sales@switchyard.example SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKcaller\r\n\
//!       To: <sip:sales@switchyard.example>\r\n\
//!       From: <sip:+15550100@carrier.example>;tag=caller\r\n\
//!       Call-ID: in-1@carrier\r\nCSeq: 1 INVITE\r\n\
//!       Contact: <sip:+15550100@192.0.2.9>\r\nContent-Length: 0\r\n\r\n",
//! )?
//! else {
//!     unreachable!()
//! };
//! let mut dialog = Dialog::uas(
//!     &invite,
//!     &Tag::new("us"),
//!     NameAddr::parse("<sip:switchyard@10.0.0.1>")?,
//!     LocalVia::new(Transport::Udp, "10.0.0.1:5060")?,
//!     SessionTimerConfig::default(),
//! )?;
//! let t0 = Instant::now();
//! // Our 200 carries the session timer: the caller asked for none and cannot refresh, so
//! // we refresh every 900 s.
//! let ok = dialog.response(t0, &invite, 200, "OK");
//! assert_eq!(ok.headers.get("Session-Expires"), Some("1800;refresher=uas"));
//! let due = dialog.poll_timeout().unwrap();
//! assert_eq!(due, t0 + Duration::from_secs(900));
//! dialog.handle_timeout(due);
//! assert_eq!(dialog.poll_event(), Some(DialogEvent::RefreshDue { method: Method::Invite }));
//! let refresh = dialog.request(Method::Invite, &Branch::new("z9hG4bKrefresh1"));
//! assert_eq!(refresh.headers.cseq().unwrap().seq, 1);
//! // No answer to the refresh: the session ends, and we hang up.
//! let end = dialog.poll_timeout().unwrap();
//! dialog.handle_timeout(end);
//! assert_eq!(dialog.poll_event(), Some(DialogEvent::SessionExpired));
//! let bye = dialog.request(Method::Bye, &Branch::new("z9hG4bKbye1"));
//! assert_eq!(bye.uri.to_string(), "sip:+15550100@192.0.2.9");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod key;
mod requests;
mod session_timer;
mod state;

pub use key::{CallId, DialogKey, Tag};
pub use requests::{SUPPORTED_OPTION_TAGS, check_require, reject};
pub use session_timer::{
    RFC4028_MIN_SE, SessionTimer, SessionTimerConfig, min_se_too_small, retry_after_422,
};
pub use state::{Dialog, DialogEvent, DialogState, LocalVia, Role};

/// Why a dialog cannot be made from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("message has no Call-ID")]
    NoCallId,
    #[error("message has no From tag")]
    NoFromTag,
    #[error("message has no To tag")]
    NoToTag,
    #[error("message has no CSeq")]
    NoCSeq,
    #[error("message has no Contact (remote target)")]
    NoContact,
    #[error("message has no From or To")]
    NoAddress,
    #[error("response status {0} does not create a dialog")]
    NotDialogCreating(u16),
    #[error("no Via can be made for the local address: {0}")]
    Via(String),
}
