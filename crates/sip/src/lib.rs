//! SIP message layer, transports, transactions, dialogs, digest auth and registrar (sans-IO).

pub mod registrar;
pub mod transport;
