//! Reload: new calls take the new dialplan, calls in progress keep theirs, and a dialplan
//! that fails the checker never replaces a good one.

use std::sync::Arc;

use crate::compile::{Env, compile};
use crate::diag::Diagnostics;
use crate::plan::Dialplan;

/// Holds the dialplan new calls start on. The daemon keeps one per dialplan file behind
/// whatever sharing it uses (e.g. an `ArcSwap` or a lock around `reload`); calls hold the
/// `Arc` they started with, so a reload never changes a call in progress.
#[derive(Debug, Clone)]
pub struct DialplanSlot {
    current: Arc<Dialplan>,
    version: u64,
}

impl DialplanSlot {
    /// A slot serving `plan` as version 1.
    pub fn new(plan: Dialplan) -> Self {
        DialplanSlot {
            current: Arc::new(plan),
            version: 1,
        }
    }

    /// The dialplan for a new call.
    pub fn current(&self) -> Arc<Dialplan> {
        self.current.clone()
    }

    /// How many times a dialplan was loaded into this slot (1 for the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Compiles and checks `source`; on success it serves new calls from now on. On
    /// failure the old dialplan keeps serving and the diagnostics say why.
    pub fn reload(
        &mut self,
        file: &str,
        source: &str,
        env: &Env<'_>,
    ) -> Result<Arc<Dialplan>, Diagnostics> {
        let plan = compile(file, source, env)?;
        self.current = Arc::new(plan);
        self.version += 1;
        Ok(self.current.clone())
    }
}
