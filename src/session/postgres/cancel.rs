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

/// The cancel slot of one session: where its cancel must go right now. The session updates it without
/// touching the shared registry.
pub type CancelSlot = Arc<Mutex<Option<CancelTarget>>>;

/// Live sessions' cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    keys: Mutex<HashMap<i32, (i32, CancelSlot)>>,
}

impl CancelRegistry {
    /// Registers a session's proxy-issued key; returns the slot the session keeps up to date.
    pub fn register(&self, pid: i32, secret: i32) -> CancelSlot {
        let slot = CancelSlot::default();
        self.keys.lock().insert(pid, (secret, slot.clone()));
        slot
    }

    /// Forgets a session's key (on disconnect).
    pub fn remove(&self, pid: i32) {
        self.keys.lock().remove(&pid);
    }

    /// Forwards a cancel request when the key matches a session that holds a backend. Unknown keys and
    /// wrong secrets are ignored silently, as PostgreSQL does.
    pub async fn cancel(&self, pid: i32, secret: i32) {
        let slot = match self.keys.lock().get(&pid) {
            Some((s, slot)) if *s == secret => slot.clone(),
            _ => return,
        };
        let Some(target) = slot.lock().clone() else { return };
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
