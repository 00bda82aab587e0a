//! Registrar (RFC 3261 §10): bindings of contacts to addresses-of-record.
//!
//! [`Bindings`] is the sans-IO store: REGISTERs reduced to an [`Update`] go in with the
//! time, the AOR's bindings come out, and qualify probes and expiries come out of
//! [`Bindings::poll_event`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_sip::registrar::{Bindings, ContactRequest, ContactSet, RegistrarConfig, RegistrarEvent, Update};
//! use switchyard_sip::transport::Source;
//!
//! let now = Instant::now();
//! let mut reg = Bindings::new(RegistrarConfig::default());
//! let source = Source::udp("192.0.2.7:40000".parse().unwrap(), "127.0.0.1:5060".parse().unwrap());
//! let contacts = ContactSet::List(vec![ContactRequest { uri: "sip:1001@10.0.0.5:5062".into(), q: None, expires: None }]);
//! let bound = reg
//!     .update(now, Update { aor: "1001", call_id: "abc", cseq: 1, expires: Some(300), contacts, source })
//!     .unwrap();
//! assert_eq!(bound[0].expires_in, 300);
//!
//! // The run loop: handle timeouts when due, then act on events.
//! if let Some(at) = reg.poll_timeout() {
//!     reg.handle_timeout(at);
//! }
//! while let Some(event) = reg.poll_event() {
//!     if let RegistrarEvent::Qualify { id, source, .. } = event {
//!         // Send OPTIONS to `source.remote` (the NAT's public side), then on any answer:
//!         assert_eq!(source.remote.port(), 40000);
//!         reg.qualified(now, id);
//!     }
//! }
//! # let _ = Duration::ZERO;
//! ```

mod service;
mod store;

pub use service::Registrar;

pub use store::{
    BindingId, BindingInfo, Bindings, ContactRequest, ContactSet, Q, RegistrarConfig,
    RegistrarEvent, SavedBinding, Snapshot, Update, UpdateError,
};
