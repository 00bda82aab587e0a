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

mod key;
mod requests;
mod session_timer;
mod state;

pub use key::{CallId, DialogKey, Tag};
pub use requests::{SUPPORTED_OPTION_TAGS, check_require, reject};
pub use session_timer::{SessionTimer, SessionTimerConfig, min_se_too_small};
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
