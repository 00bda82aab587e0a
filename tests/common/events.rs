//! The daemon's WebSocket event stream (`/api/v1/events`), read on a thread of its own
//! into a list the tests look through.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message};

/// A connected event stream.
pub(crate) struct Events {
    received: Arc<Mutex<Vec<Value>>>,
}

impl Events {
    /// Connects to the stream at `api` with the API key (in the query string).
    pub(crate) fn connect(api: SocketAddr, key: &str) -> Events {
        let url = format!("ws://{api}/api/v1/events?api_key={key}");
        let (mut ws, resp) = tungstenite::connect(url.as_str())
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        assert_eq!(resp.status().as_u16(), 101, "WebSocket upgrade");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            while let Ok(msg) = ws.read() {
                if let Message::Text(text) = msg
                    && let Ok(v) = serde_json::from_str::<Value>(text.as_str())
                {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Events { received }
    }

    /// Every event so far.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for the first event of `kind` that `pred` accepts.
    pub(crate) fn wait(
        &self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        super::wait_until(timeout, || {
            self.received
                .lock()
                .unwrap()
                .iter()
                .find(|e| e["type"] == kind && pred(e))
                .cloned()
        })
    }
}
