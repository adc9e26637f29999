//! The MariaDB 10.11 test cluster: a primary (binary log, ROW format, GTID strict mode) and a read-only replica
//! replicating from it by GTID, both `mariadbd` processes started from the system binaries as children of the
//! test process, in a fresh directory on free ports.
//!
//! Users: `root` with an empty password on 127.0.0.1, [`MY_NATIVE_USER`] (mysql_native_password, all privileges
//! except READ_ONLY ADMIN, so the replica refuses its writes) and the replication user [`MY_REPL_USER`]. MariaDB
//! 10.11 has no caching_sha2_password plugin (it ships ed25519, pam and native only), so there is no sha2 user.
//! The users are created on the primary; the replica starts from a copy of the same fresh datadir and replays
//! the primary's binlog from its first event, so it has them too.
//!
//! Deliberately not here: TLS, semi-sync, multi-source replication, and any per-test database.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::sync::{Mutex, OnceCell, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::error::HarnessError;
use super::sys::{free_ports, fresh_dir, poll_until, run};
use super::watchdog::Watchdog;
use server::{Role, install_db, spawn_server};

mod server;

/// A user authenticating with mysql_native_password, with all privileges but READ_ONLY ADMIN.
pub const MY_NATIVE_USER: &str = "sy_native";
/// [`MY_NATIVE_USER`]'s password.
pub const MY_NATIVE_PASSWORD: &str = "native-secret";
/// The replication user (REPLICATION SLAVE, from 127.0.0.1 only).
pub const MY_REPL_USER: &str = "repl";
/// [`MY_REPL_USER`]'s password.
pub const MY_REPL_PASSWORD: &str = "repl-secret";

/// How long any single wait (server start, replication threads, catch-up) may take.
const WAIT: Duration = Duration::from_secs(60);

/// The running MariaDB primary and replica shared by all tests of this run.
#[derive(Debug)]
pub struct MyCluster {
    /// The primary's TCP address (127.0.0.1).
    pub primary: SocketAddr,
    /// The read-only replica's TCP address (127.0.0.1).
    pub replica: SocketAddr,
    /// The cluster's directory; everything below it is removed after the run.
    pub root: PathBuf,
    /// The primary's data directory.
    pub primary_dir: PathBuf,
    /// The replica's data directory.
    pub replica_dir: PathBuf,
    /// The primary's unix socket.
    pub primary_socket: PathBuf,
    /// The replica's unix socket.
    pub replica_socket: PathBuf,
    /// The primary's process.
    primary_proc: Mutex<Child>,
    /// The replica's process; `None` while stopped.
    replica_proc: Mutex<Option<Child>>,
    /// Readers need the replica up; the writer may stop it. See [`MyCluster::share_replica`].
    replica_state: RwLock<()>,
    /// Removes everything when the test process is gone.
    watchdog: Watchdog,
}

static CLUSTER: OnceCell<Result<MyCluster, String>> = OnceCell::const_new();

/// The MariaDB cluster of this test run, started on first use. Panics with the reason if it cannot start.
pub async fn my() -> &'static MyCluster {
    let cluster = CLUSTER
        .get_or_init(async || {
            let started = std::time::Instant::now();
            let mut errors = Vec::new();
            // A second attempt covers a free port taken by someone else between choosing and binding it.
            for _ in 0..2 {
                match MyCluster::start().await {
                    Ok(cluster) => {
                        eprintln!("harness: MariaDB primary+replica up in {:.1?}", started.elapsed());
                        return Ok(cluster);
                    }
                    Err(err) => errors.push(err.to_string()),
                }
            }
            Err(errors.join("\n--- retry ---\n"))
        })
        .await;
    match cluster {
        Ok(cluster) => cluster,
        Err(err) => panic!("MariaDB test cluster failed to start:\n{err}"),
    }
}

/// Connects over TCP to `addr` (never the unix socket: `prefer_socket(false)`).
pub async fn my_connect(
    addr: SocketAddr,
    user: &str,
    password: Option<&str>,
    db: Option<&str>,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(password)
        .db_name(db)
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await
}

/// Connects over TCP to `addr` as a password-less `user` (`root`). Panics if it cannot connect.
pub async fn my_conn(addr: SocketAddr, user: &str, db: Option<&str>) -> mysql_async::Conn {
    match my_connect(addr, user, None, db).await {
        Ok(conn) => conn,
        Err(err) => panic!("connect to MariaDB at {addr} as {user}: {err}"),
    }
}

/// The replica's `SHOW SLAVE STATUS` fields the harness looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaveStatus {
    /// `Slave_IO_Running`: Yes, No, Connecting, Preparing.
    pub io_running: String,
    /// `Slave_SQL_Running`: Yes or No.
    pub sql_running: String,
    /// `Gtid_IO_Pos`: the GTID position received so far.
    pub gtid_io_pos: String,
    /// `Last_IO_Error` and `Last_SQL_Error`, joined.
    pub last_error: String,
}

/// Reads `SHOW SLAVE STATUS` on `conn`; `None` when replication is not configured.
pub async fn slave_status(conn: &mut mysql_async::Conn) -> Result<Option<SlaveStatus>, mysql_async::Error> {
    let row: Option<mysql_async::Row> = conn.query_first("SHOW SLAVE STATUS").await?;
    Ok(row.map(|row| {
        let field = |name: &str| -> String {
            row.get_opt::<Option<String>, _>(name).and_then(Result::ok).flatten().unwrap_or_default()
        };
        SlaveStatus {
            io_running: field("Slave_IO_Running"),
            sql_running: field("Slave_SQL_Running"),
            gtid_io_pos: field("Gtid_IO_Pos"),
            last_error: format!("{} {}", field("Last_IO_Error"), field("Last_SQL_Error")).trim().to_owned(),
        }
    }))
}

impl MyCluster {
    /// `mysql://root@<primary>/<db>`.
    pub fn primary_url(&self, db: &str) -> String {
        format!("mysql://root@{}/{db}", self.primary)
    }

    /// `mysql://root@<replica>/<db>`.
    pub fn replica_url(&self, db: &str) -> String {
        format!("mysql://root@{}/{db}", self.replica)
    }

    /// Holds the replica up: while any returned guard lives, no [`MyCluster::own_replica`] holder can stop it.
    /// Restarts the replica, or its replication threads, first if an earlier test left them stopped. Take it in
    /// tests that read from the replica.
    pub async fn share_replica(&self) -> Result<RwLockReadGuard<'_, ()>, HarnessError> {
        Ok(self.own_replica().await?.downgrade())
    }

    /// Exclusive use of the replica, for tests that stop it or pause its SQL thread; waits for sharers to finish.
    /// Like [`MyCluster::share_replica`], it first repairs what an earlier holder left (a stopped server or
    /// stopped replication threads), so every holder starts from a replicating replica.
    pub async fn own_replica(&self) -> Result<RwLockWriteGuard<'_, ()>, HarnessError> {
        let guard = self.replica_state.write().await;
        if self.replica_proc.lock().await.is_none() {
            self.start_replica().await?;
        }
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        // "Connecting" is a running IO thread; only a stopped thread needs a START SLAVE.
        let stopped = slave_status(&mut conn).await?.is_none_or(|st| st.io_running == "No" || st.sql_running == "No");
        if stopped {
            conn.query_drop("START SLAVE").await?;
        }
        conn.disconnect().await?;
        self.wait_replicating().await?;
        Ok(guard)
    }

    /// Shuts the replica down (`SHUTDOWN`) and waits for its process to exit. Hold [`MyCluster::own_replica`].
    pub async fn stop_replica(&self) -> Result<(), HarnessError> {
        let mut proc = self.replica_proc.lock().await;
        let Some(child) = proc.as_mut() else { return Ok(()) };
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        // The server may close the connection before it answers.
        let _ = conn.query_drop("SHUTDOWN").await;
        poll_until("replica mariadbd to exit", WAIT, async || child.try_wait().map(|status| status.map(|_| ())))
            .await?;
        *proc = None;
        Ok(())
    }

    /// Starts the replica again (replication restarts by itself from `master.info`) and waits until both
    /// replication threads run.
    pub async fn start_replica(&self) -> Result<(), HarnessError> {
        let mut proc = self.replica_proc.lock().await;
        if proc.is_none() {
            *proc = Some(
                spawn_server(&self.root, &self.replica_dir, self.replica, &self.replica_socket, Role::Replica).await?,
            );
        }
        drop(proc);
        self.wait_replicating().await
    }

    /// Waits until `SHOW SLAVE STATUS` on the replica says both the IO and the SQL thread are running.
    pub async fn wait_replicating(&self) -> Result<(), HarnessError> {
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        poll_until("replica IO and SQL threads to run", WAIT, async || {
            match slave_status(&mut conn).await.map_err(|err| err.to_string())? {
                Some(st) if st.io_running == "Yes" && st.sql_running == "Yes" => Ok(Some(())),
                Some(st) => Err(format!("IO {} SQL {} {}", st.io_running, st.sql_running, st.last_error)),
                None => Err("replication not configured".to_owned()),
            }
        })
        .await
    }

    /// Waits until the replica has applied everything in the primary's binlog as of this call.
    pub async fn sync_replica(&self) -> Result<(), HarnessError> {
        let mut primary = my_connect(self.primary, "root", None, None).await?;
        let pos: Option<String> = primary.query_first("SELECT @@gtid_binlog_pos").await?;
        let pos = pos.unwrap_or_default();
        primary.disconnect().await?;
        let mut replica = my_connect(self.replica, "root", None, None).await?;
        let secs = WAIT.as_secs();
        let waited: Option<i64> =
            replica.exec_first(format!("SELECT MASTER_GTID_WAIT(?, {secs})"), (pos.clone(),)).await?;
        replica.disconnect().await?;
        match waited {
            Some(0) => Ok(()),
            other => Err(HarnessError::Timeout {
                what: format!("replica to apply GTID {pos}"),
                waited: WAIT,
                last: format!("MASTER_GTID_WAIT returned {other:?}"),
            }),
        }
    }

    /// Waits until the replica has received (not necessarily applied) the primary's binlog as of this call.
    pub async fn wait_received(&self) -> Result<(), HarnessError> {
        let mut primary = my_connect(self.primary, "root", None, None).await?;
        let pos: Option<String> = primary.query_first("SELECT @@gtid_binlog_pos").await?;
        let pos = pos.unwrap_or_default();
        primary.disconnect().await?;
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        poll_until("replica IO thread to receive the primary's GTID", WAIT, async || {
            let status = slave_status(&mut conn).await.map_err(|err| err.to_string())?;
            Ok::<_, String>(status.filter(|st| st.gtid_io_pos == pos).map(|_| ()))
        })
        .await
    }

    /// Stops the replica's SQL thread (it keeps receiving): the replica lags until [`MyCluster::resume_replay`].
    /// Hold [`MyCluster::own_replica`] around this.
    pub async fn pause_replay(&self) -> Result<(), HarnessError> {
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        conn.query_drop("STOP SLAVE SQL_THREAD").await?;
        Ok(conn.disconnect().await?)
    }

    /// Starts the replica's SQL thread again.
    pub async fn resume_replay(&self) -> Result<(), HarnessError> {
        let mut conn = my_connect(self.replica, "root", None, None).await?;
        conn.query_drop("START SLAVE SQL_THREAD").await?;
        conn.disconnect().await?;
        self.wait_replicating().await
    }
}

impl MyCluster {
    /// Starts a fresh cluster; see the module doc.
    async fn start() -> Result<MyCluster, HarnessError> {
        let root = fresh_dir("my")?;
        let watchdog = Watchdog::spawn(&root)?;
        let ports = free_ports(2)?;
        let primary_dir = root.join("primary");
        let replica_dir = root.join("replica");
        install_db(&root, &primary_dir).await?;
        // Both servers start from the same freshly installed system tables; replication adds the rest.
        let mut copy = tokio::process::Command::new("cp");
        copy.arg("-a").arg(&primary_dir).arg(&replica_dir);
        run(copy, "cp -a (replica datadir)").await?;
        let primary = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0]));
        let replica = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[1]));
        let (primary_socket, replica_socket) = (root.join("primary.sock"), root.join("replica.sock"));
        let primary_proc = spawn_server(&root, &primary_dir, primary, &primary_socket, Role::Primary).await?;
        let replica_proc = spawn_server(&root, &replica_dir, replica, &replica_socket, Role::Replica).await?;
        let cluster = MyCluster {
            primary,
            replica,
            primary_dir,
            replica_dir,
            primary_socket,
            replica_socket,
            root,
            primary_proc: Mutex::new(primary_proc),
            replica_proc: Mutex::new(Some(replica_proc)),
            replica_state: RwLock::new(()),
            watchdog,
        };
        cluster.configure().await?;
        Ok(cluster)
    }

    /// Creates the users on the primary, points the replica at the primary, starts replication, and waits
    /// until the replica has applied everything (so it has the users too).
    async fn configure(&self) -> Result<(), HarnessError> {
        let mut primary = my_connect(self.primary, "root", None, None).await?;
        for sql in [
            format!("CREATE USER '{MY_REPL_USER}'@'127.0.0.1' IDENTIFIED BY '{MY_REPL_PASSWORD}'"),
            format!("GRANT REPLICATION SLAVE ON *.* TO '{MY_REPL_USER}'@'127.0.0.1'"),
            format!(
                "CREATE USER '{MY_NATIVE_USER}'@'%' IDENTIFIED VIA mysql_native_password \
                 USING PASSWORD('{MY_NATIVE_PASSWORD}')"
            ),
            format!("GRANT ALL PRIVILEGES ON *.* TO '{MY_NATIVE_USER}'@'%'"),
            // Like an application user, it must not write to the read-only replica.
            format!("REVOKE READ_ONLY ADMIN ON *.* FROM '{MY_NATIVE_USER}'@'%'"),
        ] {
            primary.query_drop(sql).await?;
        }
        primary.disconnect().await?;
        let mut replica = my_connect(self.replica, "root", None, None).await?;
        replica
            .query_drop(format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{MY_REPL_USER}', \
                 MASTER_PASSWORD='{MY_REPL_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
                self.primary.port()
            ))
            .await?;
        replica.query_drop("START SLAVE").await?;
        replica.disconnect().await?;
        self.wait_replicating().await?;
        self.sync_replica().await
    }
}
