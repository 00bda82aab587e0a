//! The stored records the API serves (CDRs, the queue log, voicemail), behind a trait so
//! the handlers can be tested with a stub instead of a database.

use crate::store::{Cdr, CdrQuery, QueueLogRow, Reader, Voicemail};

/// Read queries on the database. Calls block (they run in `spawn_blocking`).
/// Shared by every handler, so implementations lock what needs locking.
pub(crate) trait Records: Send + Sync + 'static {
    /// CDRs matching the filters, newest first.
    fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>>;
    /// One call's CDR.
    fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>>;
    /// Queue log rows, of one call or of all, at most `limit`.
    fn queue_log(&self, call: Option<&str>, limit: u32) -> anyhow::Result<Vec<QueueLogRow>>;
    /// Voicemail messages, of one mailbox or of all.
    fn voicemails(&self, mailbox: Option<&str>) -> anyhow::Result<Vec<Voicemail>>;
    /// One voicemail message.
    fn voicemail(&self, id: &str) -> anyhow::Result<Option<Voicemail>>;
}

impl Records for Reader {
    fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>> {
        Reader::cdrs(self, query)
    }

    fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>> {
        one_cdr::lookup(self, id)
    }

    fn queue_log(&self, call: Option<&str>, limit: u32) -> anyhow::Result<Vec<QueueLogRow>> {
        Reader::queue_log(self, call, limit)
    }

    fn voicemails(&self, mailbox: Option<&str>) -> anyhow::Result<Vec<Voicemail>> {
        Reader::voicemails(self, mailbox)
    }

    fn voicemail(&self, id: &str) -> anyhow::Result<Option<Voicemail>> {
        Reader::voicemail(self, id)
    }
}

/// One CDR from a [`Reader`]: `Reader::cdr` when the storage offers it (an inherent method
/// wins over a trait's), else the stand-in below, which says the lookup is not available.
/// Once every storage has `Reader::cdr`, this module can go.
mod one_cdr {
    use crate::store::{Cdr, Reader};

    pub(super) fn lookup(reader: &Reader, id: &str) -> anyhow::Result<Option<Cdr>> {
        reader.cdr(id)
    }

    trait StandIn {
        fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>>;
    }

    impl StandIn for Reader {
        fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>> {
            let _ = id;
            anyhow::bail!("this storage cannot look up one CDR")
        }
    }
}
