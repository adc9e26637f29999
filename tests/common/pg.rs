//! The PostgreSQL 15 test cluster: a primary and a streaming replica (`pg_basebackup -R` with a replication
//! slot), started from the system binaries as the `postgres` OS user in a fresh directory on free ports.
//!
//! The primary trusts `postgres` on 127.0.0.1 and on its unix socket, and has two password roles that must
//! authenticate: [`PG_SCRAM_USER`] (scram-sha-256) and [`PG_MD5_USER`] (md5, stored as an md5 hash).
//!
//! Deliberately not here: TLS, logical replication, and any per-test database (tests create their own).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{OnceCell, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::error::HarnessError;
use super::sys::{self, append, command_as, free_ports, fresh_dir, give_dir, log_tail, overwrite, poll_until, run};
use super::watchdog::Watchdog;

/// A role that must log in with SCRAM-SHA-256.
pub const PG_SCRAM_USER: &str = "sy_scram";
/// [`PG_SCRAM_USER`]'s password.
pub const PG_SCRAM_PASSWORD: &str = "scram-secret";
/// A role whose password is stored as an md5 hash and that must log in with md5.
pub const PG_MD5_USER: &str = "sy_md5";
/// [`PG_MD5_USER`]'s password.
pub const PG_MD5_PASSWORD: &str = "md5-secret";

/// Where the PostgreSQL 15 binaries are, unless `SWITCHYARD_PG_BIN` says otherwise.
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The physical replication slot the replica streams from, so the primary keeps WAL while it is stopped.
const SLOT: &str = "sy_replica";
/// How long any single wait (server start, streaming, catch-up) may take.
const WAIT: Duration = Duration::from_secs(60);

/// The running PostgreSQL primary and replica shared by all tests of this run.
#[derive(Debug)]
pub struct PgCluster {
    /// The primary's TCP address (127.0.0.1).
    pub primary: SocketAddr,
    /// The hot-standby replica's TCP address (127.0.0.1).
    pub replica: SocketAddr,
    /// The cluster's directory; everything below it is removed after the run.
    pub root: PathBuf,
    /// The primary's data directory.
    pub primary_dir: PathBuf,
    /// The replica's data directory.
    pub replica_dir: PathBuf,
    /// The directory holding both servers' unix sockets (`.s.PGSQL.<port>`).
    pub socket_dir: PathBuf,
    /// The PostgreSQL binaries used.
    bin: PathBuf,
    /// Readers need the replica up; the writer may stop it. See [`PgCluster::share_replica`].
    replica_state: RwLock<()>,
    /// Removes everything when the test process is gone.
    watchdog: Watchdog,
}

static CLUSTER: OnceCell<Result<PgCluster, String>> = OnceCell::const_new();

/// The PostgreSQL cluster of this test run, started on first use. Panics with the reason if it cannot start.
pub async fn pg() -> &'static PgCluster {
    let cluster = CLUSTER
        .get_or_init(async || {
            let started = std::time::Instant::now();
            let mut errors = Vec::new();
            // A second attempt covers a free port taken by someone else between choosing and binding it.
            for _ in 0..2 {
                match PgCluster::start().await {
                    Ok(cluster) => {
                        eprintln!("harness: PostgreSQL primary+replica up in {:.1?}", started.elapsed());
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
        Err(err) => panic!("PostgreSQL test cluster failed to start:\n{err}"),
    }
}

/// Connects to `addr` as `user` (no password: trust) to database `db`, spawning the connection task on the
/// current runtime. Panics if it cannot connect.
pub async fn pg_client(addr: SocketAddr, user: &str, db: &str) -> tokio_postgres::Client {
    match pg_connect(addr, user, None, db).await {
        Ok(client) => client,
        Err(err) => panic!("connect to PostgreSQL at {addr} as {user}/{db}: {err}"),
    }
}

/// Connects to `addr` as `user` with an optional password, spawning the connection task on the current runtime.
pub async fn pg_connect(
    addr: SocketAddr,
    user: &str,
    password: Option<&str>,
    db: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user(user).dbname(db);
    config.connect_timeout(Duration::from_secs(10));
    if let Some(password) = password {
        config.password(password);
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    // The connection ends with the client or the server; an error then is what a fault test provoked.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl PgCluster {
    /// `postgres://postgres@<primary>/<db>`: the primary, as the trusted superuser.
    pub fn primary_url(&self, db: &str) -> String {
        format!("postgres://postgres@{}/{db}", self.primary)
    }

    /// `postgres://postgres@<replica>/<db>`: the replica, as the trusted superuser.
    pub fn replica_url(&self, db: &str) -> String {
        format!("postgres://postgres@{}/{db}", self.replica)
    }

    /// Holds the replica up: while any returned guard lives, no [`PgCluster::own_replica`] holder can stop it.
    /// Restarts the replica, or resumes its replay, first if an earlier test left it stopped or paused. Take it
    /// in tests that read from the replica.
    pub async fn share_replica(&self) -> Result<RwLockReadGuard<'_, ()>, HarnessError> {
        Ok(self.own_replica().await?.downgrade())
    }

    /// Exclusive use of the replica, for tests that stop it or pause its replay; waits for sharers to finish.
    /// Like [`PgCluster::share_replica`], it first repairs what an earlier holder left: a stopped replica is
    /// started and paused replay resumed, so every holder starts from a streaming, replaying replica.
    pub async fn own_replica(&self) -> Result<RwLockWriteGuard<'_, ()>, HarnessError> {
        let guard = self.replica_state.write().await;
        let replica = match pg_connect(self.replica, "postgres", None, "postgres").await {
            Ok(replica) => replica,
            Err(_) => {
                self.start_replica().await?;
                pg_connect(self.replica, "postgres", None, "postgres").await?
            }
        };
        let paused: bool = replica.query_one("SELECT pg_is_wal_replay_paused()", &[]).await?.get(0);
        if paused {
            self.resume_replay().await?;
        }
        Ok(guard)
    }

    /// Stops the replica (fast shutdown) and waits until the primary sees its slot inactive.
    /// Hold [`PgCluster::own_replica`] around this.
    pub async fn stop_replica(&self) -> Result<(), HarnessError> {
        let mut cmd = self.pg_tool("pg_ctl");
        cmd.arg("-D").arg(&self.replica_dir).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop (replica)").await?;
        let primary = pg_client(self.primary, "postgres", "postgres").await;
        let query = format!("SELECT 1 FROM pg_replication_slots WHERE slot_name = '{SLOT}' AND NOT active");
        poll_until("replica slot inactive", WAIT, async || {
            primary.query_opt(&query, &[]).await.map(|row| row.map(|_| ()))
        })
        .await
    }

    /// Starts the replica again and waits until it accepts connections and is streaming from the primary.
    pub async fn start_replica(&self) -> Result<(), HarnessError> {
        self.pg_ctl_start(&self.replica_dir, "replica.log").await?;
        self.wait_streaming().await
    }

    /// Waits until the primary lists the replica as `streaming` and the replica's WAL receiver says so too.
    pub async fn wait_streaming(&self) -> Result<(), HarnessError> {
        let primary = pg_client(self.primary, "postgres", "postgres").await;
        poll_until("primary's pg_stat_replication to show streaming", WAIT, async || {
            let row = primary.query_opt("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'", &[]).await?;
            Ok::<_, tokio_postgres::Error>(row.map(|_| ()))
        })
        .await?;
        let replica = pg_connect(self.replica, "postgres", None, "postgres").await?;
        poll_until("replica's WAL receiver to stream", WAIT, async || {
            let row = replica.query_opt("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'", &[]).await?;
            Ok::<_, tokio_postgres::Error>(row.map(|_| ()))
        })
        .await
    }

    /// Waits until the replica has replayed everything the primary had written when this was called.
    pub async fn sync_replica(&self) -> Result<(), HarnessError> {
        let primary = pg_client(self.primary, "postgres", "postgres").await;
        let lsn: String = primary.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
        let replica = pg_connect(self.replica, "postgres", None, "postgres").await?;
        let query = "SELECT 1 WHERE pg_last_wal_replay_lsn() >= $1::text::pg_lsn";
        poll_until("replica to replay up to the primary's LSN", WAIT, async || {
            replica.query_opt(query, &[&lsn]).await.map(|row| row.map(|_| ()))
        })
        .await
    }

    /// Pauses WAL replay on the replica (it keeps receiving): the replica lags until
    /// [`PgCluster::resume_replay`]. Hold [`PgCluster::own_replica`] around this.
    pub async fn pause_replay(&self) -> Result<(), HarnessError> {
        let replica = pg_connect(self.replica, "postgres", None, "postgres").await?;
        replica.batch_execute("SELECT pg_wal_replay_pause()").await?;
        poll_until("replay to pause", WAIT, async || {
            let state: String = replica.query_one("SELECT pg_get_wal_replay_pause_state()", &[]).await?.get(0);
            Ok::<_, tokio_postgres::Error>((state == "paused").then_some(()))
        })
        .await
    }

    /// Resumes WAL replay on the replica.
    pub async fn resume_replay(&self) -> Result<(), HarnessError> {
        let replica = pg_connect(self.replica, "postgres", None, "postgres").await?;
        replica.batch_execute("SELECT pg_wal_replay_resume()").await?;
        Ok(())
    }

    /// Waits until the replica has received (not necessarily replayed) the primary's WAL as of this call.
    pub async fn wait_received(&self) -> Result<(), HarnessError> {
        let primary = pg_client(self.primary, "postgres", "postgres").await;
        let lsn: String = primary.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
        let replica = pg_connect(self.replica, "postgres", None, "postgres").await?;
        let query = "SELECT 1 WHERE pg_last_wal_receive_lsn() >= $1::text::pg_lsn";
        poll_until("replica to receive up to the primary's LSN", WAIT, async || {
            replica.query_opt(query, &[&lsn]).await.map(|row| row.map(|_| ()))
        })
        .await
    }

    /// `pg_ctl start -w`: returns once the server accepts connections; on failure the error carries the log tail.
    async fn pg_ctl_start(&self, data_dir: &Path, log_name: &str) -> Result<(), HarnessError> {
        let log = self.root.join(log_name);
        let mut cmd = self.pg_tool("pg_ctl");
        cmd.arg("-D").arg(data_dir).arg("-l").arg(&log).args(["-w", "-t", "60", "start"]);
        match run(cmd, "pg_ctl start").await {
            Ok(_) => Ok(()),
            Err(err) => Err(HarnessError::ServerExited {
                what: format!("postgres in {} ({err})", data_dir.display()),
                log: log_tail(&log, 30),
            }),
        }
    }

    /// A command running one of the PostgreSQL binaries as the `postgres` OS user, in the cluster directory.
    fn pg_tool(&self, tool: &str) -> tokio::process::Command {
        command_as("postgres", &self.bin.join(tool), &self.root)
    }

    /// Starts a fresh cluster; see the module doc.
    async fn start() -> Result<PgCluster, HarnessError> {
        let bin = std::env::var_os("SWITCHYARD_PG_BIN").map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
        if !bin.join("initdb").exists() {
            return Err(HarnessError::Environment(format!(
                "no initdb in {} (run scripts/install-deps.sh)",
                bin.display()
            )));
        }
        let owner = if sys::is_root() { Some(sys::user_ids("postgres")?) } else { None };
        let root = fresh_dir("pg")?;
        let watchdog = Watchdog::spawn(&root)?;
        give_dir(&root, owner)?;
        let socket_dir = root.join("run");
        sys::make_dir(&socket_dir)?;
        give_dir(&socket_dir, owner)?;
        let ports = free_ports(2)?;
        let cluster = PgCluster {
            primary: SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0])),
            replica: SocketAddr::from((Ipv4Addr::LOCALHOST, ports[1])),
            primary_dir: root.join("primary"),
            replica_dir: root.join("replica"),
            socket_dir,
            root,
            bin,
            replica_state: RwLock::new(()),
            watchdog,
        };
        cluster.start_primary().await?;
        cluster.create_roles().await?;
        cluster.create_replica().await?;
        cluster.wait_streaming().await?;
        Ok(cluster)
    }

    /// initdb, configuration, start.
    async fn start_primary(&self) -> Result<(), HarnessError> {
        let mut initdb = self.pg_tool("initdb");
        initdb.arg("-D").arg(&self.primary_dir);
        initdb.args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]);
        run(initdb, "initdb").await?;
        append(&self.primary_dir.join("postgresql.conf"), &self.server_conf(self.primary.port()))?;
        overwrite(&self.primary_dir.join("pg_hba.conf"), &hba_conf())?;
        self.pg_ctl_start(&self.primary_dir, "primary.log").await
    }

    /// The settings appended to the primary's postgresql.conf (the replica inherits them and overrides the port).
    fn server_conf(&self, port: u16) -> String {
        format!(
            "\n# switchyard test harness\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{sockets}'\n\
             max_connections = 300\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             hot_standby = on\n\
             fsync = off\n\
             full_page_writes = off\n\
             wal_receiver_status_interval = 1s\n\
             log_line_prefix = '%m [%p] %q%u@%d '\n",
            sockets = self.socket_dir.display()
        )
    }

    /// Creates the SCRAM and md5 roles; each is stored with the hash its pg_hba.conf line demands.
    async fn create_roles(&self) -> Result<(), HarnessError> {
        let client = pg_connect(self.primary, "postgres", None, "postgres").await?;
        let roles = format!(
            "SET password_encryption = 'scram-sha-256';\n\
             CREATE ROLE {PG_SCRAM_USER} LOGIN CREATEDB PASSWORD '{PG_SCRAM_PASSWORD}';\n\
             SET password_encryption = 'md5';\n\
             CREATE ROLE {PG_MD5_USER} LOGIN CREATEDB PASSWORD '{PG_MD5_PASSWORD}';\n\
             RESET password_encryption;"
        );
        client.batch_execute(&roles).await?;
        // PostgreSQL 15 no longer lets everyone create in `public`; template1 passes the grant on to new databases.
        let grant = format!("GRANT ALL ON SCHEMA public TO {PG_SCRAM_USER}, {PG_MD5_USER}");
        client.batch_execute(&grant).await?;
        let template = pg_connect(self.primary, "postgres", None, "template1").await?;
        template.batch_execute(&grant).await?;
        Ok(())
    }

    /// pg_basebackup -R from the primary, its own port, start.
    async fn create_replica(&self) -> Result<(), HarnessError> {
        let mut backup = self.pg_tool("pg_basebackup");
        backup.args(["-h", "127.0.0.1", "-p", &self.primary.port().to_string(), "-U", "postgres", "-D"]);
        backup.arg(&self.replica_dir).args(["-R", "-X", "stream", "-c", "fast", "--no-sync", "-C", "-S", SLOT]);
        run(backup, "pg_basebackup").await?;
        append(&self.replica_dir.join("postgresql.conf"), &format!("port = {}\n", self.replica.port()))?;
        self.pg_ctl_start(&self.replica_dir, "replica.log").await
    }
}

/// pg_hba.conf: the password roles must authenticate with their method; everyone else is trusted.
fn hba_conf() -> String {
    format!(
        "# TYPE DATABASE     USER             ADDRESS        METHOD\n\
         local   all         {PG_SCRAM_USER}                    scram-sha-256\n\
         local   all         {PG_MD5_USER}                      md5\n\
         local   all         all                                trust\n\
         local   replication all                                trust\n\
         host    all         {PG_SCRAM_USER}  127.0.0.1/32   scram-sha-256\n\
         host    all         {PG_MD5_USER}    127.0.0.1/32   md5\n\
         host    all         all              127.0.0.1/32   trust\n\
         host    replication all              127.0.0.1/32   trust\n"
    )
}
