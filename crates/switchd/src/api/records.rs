//! The stored records the API serves (CDRs, the queue log, voicemail), behind a trait so
//! the handlers can be tested with a stub instead of a database.

use crate::store::{Cdr, CdrQuery, QueueLogRow, Reader, Voicemail};

/// Read queries on the database. Calls block (they run in `spawn_blocking`).
pub(crate) trait Records: Send + 'static {
    /// CDRs matching the filters, newest first.
    fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>>;
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
