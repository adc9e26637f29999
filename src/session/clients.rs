//! The registry of live client sessions behind the control port's `SHOW CLIENTS` and `KILL CLIENT`.
//!
//! The accept loop registers a [`Client`] per accepted connection (one map insert and one removal per
//! connection); the session fills in its login after start-up and publishes the server it is attached to with
//! one relaxed atomic store when that changes (per transaction at most, never per statement, never a lock).
//! `KILL CLIENT` cancels the client's token: its session, which selects on it, tells the client and ends,
//! releasing or discarding its backend by the usual rules.
//!
//! Deliberately not here: what a killed session says to its client (the session decides, in its protocol).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::pool::topology::{Server, Topology};

/// One connected client, as the control port sees it.
#[derive(Debug)]
pub struct Client {
    /// Connection id (the `conn.id` of the session's log span).
    pub id: u64,
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// The client's address.
    pub addr: SocketAddr,
    /// When the connection was accepted.
    pub connected_at: DateTime<Utc>,
    /// User and database, once start-up has authenticated the client.
    login: OnceLock<(String, String)>,
    /// Address of the `Server` the session holds a backend of (`Arc::as_ptr`), 0 when it holds none. Only
    /// compared with the topology's servers, never dereferenced.
    server: AtomicUsize,
    kill: CancellationToken,
    /// A `KILL QUERY` for this client is pending: the session cancels its statement in flight, if any.
    cancel: AtomicBool,
    cancel_notify: tokio::sync::Notify,
}

impl Client {
    /// A client not (yet) in any registry; used by the accept loop and by tests that drive a session directly.
    pub fn new(id: u64, engine: &'static str, addr: SocketAddr) -> Client {
        Client {
            id,
            engine,
            addr,
            connected_at: Utc::now(),
            login: OnceLock::new(),
            server: AtomicUsize::new(0),
            kill: CancellationToken::new(),
            cancel: AtomicBool::new(false),
            cancel_notify: tokio::sync::Notify::new(),
        }
    }

    /// Records who the client logged in as (first call wins).
    pub fn set_login(&self, user: &str, database: &str) {
        let _ = self.login.set((user.to_string(), database.to_string()));
    }

    /// User and database, when logged in.
    pub fn login(&self) -> Option<(&str, &str)> {
        self.login.get().map(|(u, d)| (u.as_str(), d.as_str()))
    }

    /// Publishes the server the session now holds a backend of (`None`: it holds none).
    #[inline]
    /// Cheap enough to call every loop iteration: it writes only on a change (only the session writes it).
    pub fn set_server(&self, server: Option<&Arc<Server>>) {
        let key = server.map_or(0, server_key);
        if self.server.load(Ordering::Relaxed) != key {
            self.server.store(key, Ordering::Relaxed);
        }
    }

    /// True while the session holds a backend (inside a transaction or running a statement).
    pub fn active(&self) -> bool {
        self.server.load(Ordering::Relaxed) != 0
    }

    /// The server the session holds a backend of, looked up in `topology`.
    pub fn server<'t>(&self, topology: &'t Topology) -> Option<&'t Arc<Server>> {
        let key = self.server.load(Ordering::Relaxed);
        if key == 0 {
            return None;
        }
        topology.servers().iter().find(|s| server_key(s) == key)
    }

    /// Asks the session to end.
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// Resolves when [`Client::kill`] was called.
    pub async fn killed(&self) {
        self.kill.cancelled().await;
    }

    /// Asks the session to cancel the statement it is running (MySQL `KILL QUERY`). The session does it itself,
    /// while it still holds the backend, so the kill can never reach a backend another client got since.
    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Release);
        self.cancel_notify.notify_one();
    }

    /// Resolves after [`Client::request_cancel`] (possibly spuriously: check [`Client::take_cancel`]).
    pub async fn cancel_notified(&self) {
        self.cancel_notify.notified().await;
    }

    /// Takes a pending cancel request.
    pub fn take_cancel(&self) -> bool {
        self.cancel.swap(false, Ordering::AcqRel)
    }

    /// The kill token, for sessions that select on it.
    pub fn kill_token(&self) -> &CancellationToken {
        &self.kill
    }
}

/// A cheap identity of a server: the address of its shared allocation.
#[inline]
pub fn server_key(server: &Arc<Server>) -> usize {
    Arc::as_ptr(server).addr()
}

/// Every live client, by id.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<Client>>>,
}

impl Clients {
    /// An empty registry.
    pub fn new() -> Arc<Clients> {
        Arc::new(Clients::default())
    }

    /// Registers a new connection; it is removed when the returned guard is dropped.
    pub fn register(self: &Arc<Self>, id: u64, engine: &'static str, addr: SocketAddr) -> Registration {
        let client = Arc::new(Client::new(id, engine, addr));
        self.map.lock().insert(id, client.clone());
        Registration { clients: self.clone(), client }
    }

    /// Every live client, by id.
    pub fn list(&self) -> Vec<Arc<Client>> {
        self.map.lock().values().cloned().collect()
    }

    /// Live clients of one engine (`postgres` / `mysql`).
    pub fn count(&self, engine: &str) -> usize {
        self.map.lock().values().filter(|c| c.engine == engine).count()
    }

    /// The client with this id.
    pub fn get(&self, id: u64) -> Option<Arc<Client>> {
        self.map.lock().get(&id).cloned()
    }

    /// Ends the client with this id; false when there is none.
    pub fn kill(&self, id: u64) -> bool {
        match self.get(id) {
            Some(c) => {
                c.kill();
                true
            }
            None => false,
        }
    }

    /// How many clients are connected.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A registered client; dropping it removes the client from the registry.
#[derive(Debug)]
pub struct Registration {
    clients: Arc<Clients>,
    client: Arc<Client>,
}

impl Registration {
    /// The registered client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.clients.map.lock().remove(&self.client.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cluster, ServerConfig};

    #[test]
    fn registration_lives_as_long_as_its_guard_and_kill_reaches_the_client() {
        let clients = Clients::new();
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let a = clients.register(1, "postgres", addr);
        let b = clients.register(2, "mysql", addr);
        assert_eq!(clients.list().iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(clients.kill(2));
        assert!(b.client().kill_token().is_cancelled());
        assert!(!a.client().kill_token().is_cancelled());
        assert!(!clients.kill(9));
        drop(b);
        assert_eq!(clients.len(), 1);
        drop(a);
        assert!(clients.is_empty());
    }

    #[test]
    fn the_attached_server_is_found_in_the_topology() {
        let s = |n: &str| ServerConfig { name: n.into(), addr: "127.0.0.1:1".into(), weight: 1 };
        let topology = Topology::new(&Cluster { primary: Some(s("p")), replicas: vec![s("r1")], ..Cluster::default() });
        let client = Client::new(1, "postgres", "127.0.0.1:5000".parse().unwrap());
        assert!(client.server(&topology).is_none() && !client.active());
        client.set_server(Some(&topology.servers()[1]));
        assert_eq!(client.server(&topology).map(|s| s.name.as_str()), Some("r1"));
        assert!(client.active());
        client.set_server(None);
        assert!(client.server(&topology).is_none());
    }
}
