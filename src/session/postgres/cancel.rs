//! Cancel keys. Each client gets a proxy-issued (pid, secret); while it holds a backend, the key maps to that
//! backend's own key so a CancelRequest on a new connection can be forwarded to the right server.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::pool::topology::Server;
use crate::protocol::postgres::messages;

/// Where a cancel for a client must go right now.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    /// The backend's server.
    pub server: Arc<Server>,
    /// Backend pid.
    pub pid: i32,
    /// Backend secret.
    pub secret: i32,
}

/// Live sessions' cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    keys: Mutex<HashMap<i32, (i32, Option<CancelTarget>)>>,
}

impl CancelRegistry {
    /// Registers a session's proxy-issued key.
    pub fn register(&self, pid: i32, secret: i32) {
        self.keys.lock().insert(pid, (secret, None));
    }

    /// Forgets a session's key (on disconnect).
    pub fn remove(&self, pid: i32) {
        self.keys.lock().remove(&pid);
    }

    /// Records which backend the session holds now (None when it holds none).
    pub fn set_target(&self, pid: i32, target: Option<CancelTarget>) {
        if let Some(entry) = self.keys.lock().get_mut(&pid) {
            entry.1 = target;
        }
    }

    /// Forwards a cancel request when the key matches a session that holds a backend. Unknown keys and
    /// wrong secrets are ignored silently, as PostgreSQL does.
    pub async fn cancel(&self, pid: i32, secret: i32) {
        let target = match self.keys.lock().get(&pid) {
            Some((s, Some(t))) if *s == secret => t.clone(),
            _ => return,
        };
        let mut out = BytesMut::new();
        messages::cancel_request(&mut out, target.pid, target.secret);
        match TcpStream::connect(&target.server.addr).await {
            Ok(mut s) => {
                if let Err(e) = s.write_all(&out).await {
                    tracing::warn!(error = %e, "forward cancel request");
                }
            }
            Err(e) => tracing::warn!(error = %e, "connect to forward cancel request"),
        }
    }
}
