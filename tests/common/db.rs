//! Reading the daemon's SQLite database (`<data-dir>/switchyard.db`) in the tests: CDRs and
//! the queue event log as JSON objects keyed by column name.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use serde_json::{Map, Value};

/// Every row of `sql` as an object of column → value; an error while the database or
/// the table does not exist yet.
pub(crate) fn query(data_dir: &Path, sql: &str) -> Result<Vec<Value>, String> {
    let path = data_dir.join("switchyard.db");
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let conn = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut stmt = conn.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let rows = stmt
        .query_map([], |row| {
            let mut obj = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(f) => Value::from(f),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::from(format!("<{} bytes>", b.len())),
                };
                obj.insert(name.clone(), v);
            }
            Ok(Value::Object(obj))
        })
        .map_err(|e| format!("{sql}: {e}"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{sql}: {e}"))
}

/// Every CDR, oldest first.
pub(crate) fn cdrs(data_dir: &Path) -> Vec<Value> {
    query(data_dir, "SELECT * FROM cdr ORDER BY start_ms").unwrap_or_default()
}

/// The whole queue event log, in order.
pub(crate) fn queue_log(data_dir: &Path) -> Vec<Value> {
    query(data_dir, "SELECT * FROM queue_log ORDER BY time_ms, rowid").unwrap_or_default()
}

/// The queue event log of one call, in order.
pub(crate) fn queue_log_of(data_dir: &Path, call: &str) -> Vec<Value> {
    queue_log(data_dir)
        .into_iter()
        .filter(|r| r["call"] == call)
        .collect()
}

/// Waits until at least `n` CDRs are stored (the writer commits each one as it comes);
/// returns them all, or panics with what is there.
pub(crate) fn wait_cdrs(data_dir: &Path, n: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = query(data_dir, "SELECT * FROM cdr ORDER BY start_ms");
        match rows {
            Ok(rows) if rows.len() >= n => return rows,
            _ if Instant::now() > deadline => {
                panic!("expected {n} CDRs within {timeout:?}; the database has: {rows:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The event names of a queue log, in order (`enter`, `offer`, ...).
pub(crate) fn events(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Whether `want` occurs in `have` in this order (other events may come between).
pub(crate) fn in_order(have: &[String], want: &[&str]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}
