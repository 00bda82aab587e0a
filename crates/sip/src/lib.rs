//! SIP message layer, transports, transactions, dialogs, digest auth and registrar (sans-IO).
//!
//! ```
//! use switchyard_sip::{Message, Method, Response};
//!
//! let datagram = b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n\
//!     Max-Forwards: 70\r\n\
//!     To: <sip:carol@chicago.example.com>\r\n\
//!     From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//!     Call-ID: a84b4c76e66710\r\n\
//!     CSeq: 63104 OPTIONS\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let Message::Request(req) = Message::parse(datagram)? else { unreachable!() };
//! assert_eq!(req.method, Method::Options);
//! assert_eq!(req.headers.top_via().unwrap().branch(), Some("z9hG4bKhjhs8ass877"));
//!
//! let mut ok = Response::for_request(&req, 200, "OK");
//! ok.headers.to_mut().unwrap().set_tag("93810874");
//! let bytes = ok.to_bytes();
//! assert!(bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
//! # Ok::<(), switchyard_sip::ParseError>(())
//! ```

pub mod msg;

pub use msg::{
    CSeq, Challenge, Contact, Contacts, Credentials, FrameError, Headers, Host, Message, Method,
    NameAddr, ParseError, Refresher, Request, Response, Scheme, SessionExpires, Uri, Via,
    frame_len, reject_unparsable,
};

pub mod auth;
pub mod b2bua;
pub mod client_auth;
pub mod dialog;
pub mod digest;
pub mod registrar;
pub mod transaction;
pub mod transport;
pub mod uas;
