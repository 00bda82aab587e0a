//! SIP message layer, transports, transactions, dialogs, digest auth and registrar (sans-IO).

pub mod auth;
pub mod digest;
pub mod registrar;
pub mod transport;
