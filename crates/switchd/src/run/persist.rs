//! Registrations saved across restarts: one row of the database's `registrations` table,
//! replaced at each save (through the storage writer). `<data-dir>/bindings.json`, where
//! earlier versions kept them (replaced atomically: written to a temporary file, synced,
//! then renamed), is still read when the database has none.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use switchyard_sip::registrar::Snapshot;

const FILE: &str = "bindings.json";

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    /// Wall-clock time of the save, in seconds since the Unix epoch.
    saved_at: u64,
    #[serde(flatten)]
    snapshot: Snapshot,
}

/// The bindings file of a data directory.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Writes `snapshot` atomically.
#[cfg(test)] // The daemon writes through the storage writer; tests make legacy files.
pub(crate) fn save(data_dir: &Path, snapshot: Snapshot) -> anyhow::Result<()> {
    let saved = Saved {
        saved_at: unix_now(),
        snapshot,
    };
    let json = serde_json::to_vec_pretty(&saved)?;
    let target = path(data_dir);
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    {
        use std::io::Write as _;
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &target).with_context(|| format!("replacing {}", target.display()))?;
    Ok(())
}

/// The saved form of a snapshot (what the database row holds).
pub(crate) fn to_json(snapshot: Snapshot) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(Saved {
        saved_at: unix_now(),
        snapshot,
    })?)
}

/// Reads bindings saved in the database, and how long ago they were saved.
pub(crate) fn from_json(saved: serde_json::Value) -> anyhow::Result<(Snapshot, Duration)> {
    let saved: Saved = serde_json::from_value(saved).context("parsing saved registrations")?;
    let elapsed = Duration::from_secs(unix_now().saturating_sub(saved.saved_at));
    Ok((saved.snapshot, elapsed))
}

/// Reads the saved bindings and how long ago they were saved; `None` when there is no
/// file yet.
pub(crate) fn load(data_dir: &Path) -> anyhow::Result<Option<(Snapshot, Duration)>> {
    let p = path(data_dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let saved: Saved =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?;
    let elapsed = Duration::from_secs(unix_now().saturating_sub(saved.saved_at));
    Ok(Some((saved.snapshot, elapsed)))
}

/// Renames an unreadable bindings file out of the way; returns its new name.
pub(crate) fn set_aside(data_dir: &Path) -> Option<PathBuf> {
    let aside = data_dir.join(format!("{FILE}.unreadable-{}", unix_now()));
    std::fs::rename(path(data_dir), &aside).ok()?;
    Some(aside)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sip::registrar::SavedBinding;
    use switchyard_sip::transport::Transport;

    #[test]
    fn save_then_load() {
        let dir = std::env::temp_dir().join(format!("switchyard-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_none());
        let snap = Snapshot {
            bindings: vec![SavedBinding {
                aor: "1001".into(),
                contact: "sip:1001@10.0.0.1".into(),
                q: None,
                expires_in: 300,
                call_id: "c".into(),
                cseq: 3,
                transport: Transport::Udp,
                remote: "192.0.2.1:5062".parse().unwrap(),
                local: "127.0.0.1:5060".parse().unwrap(),
            }],
        };
        save(&dir, snap.clone()).unwrap();
        let (back, elapsed) = load(&dir).unwrap().unwrap();
        assert_eq!(back, snap);
        assert!(elapsed < Duration::from_secs(60));
        assert!(!dir.join(format!("{FILE}.tmp")).exists());

        std::fs::write(path(&dir), b"{ not json").unwrap();
        assert!(load(&dir).is_err());
        let aside = set_aside(&dir).expect("moved aside");
        assert!(aside.exists() && !path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
