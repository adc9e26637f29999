//! `TestProxy`: a Switchyard instance started in-process on free ports in front of the harness servers.

use std::net::SocketAddr;
use std::time::Duration;

use switchyard::config::{AuthMethod, Config, ServerConfig, User};
use switchyard::server::{self, Handle};

use crate::common;

/// Builder for an in-process proxy.
pub struct TestProxy {
    pub config: Config,
    /// The proxy's data directory (store, logs); removed when the proxy is dropped.
    dir: tempfile::TempDir,
}

impl TestProxy {
    /// A proxy in front of the harness PostgreSQL primary and replica, users `postgres` (trust) and `app` (SCRAM).
    pub async fn postgres() -> TestProxy {
        let pg = common::pg().await;
        let dir = tempfile::tempdir().expect("data dir");
        let mut config = Config::default();
        config.general.data_dir = dir.path().to_path_buf();
        config.listen.postgres = "127.0.0.1:0".into();
        config.listen.mysql = String::new();
        config.listen.admin = String::new();
        config.listen.metrics = String::new();
        config.postgres.primary = Some(server("primary", pg.primary));
        config.postgres.replicas = vec![server("replica1", pg.replica)];
        config.mysql.primary = None;
        config.health.interval = Duration::from_millis(200);
        config.health.ban_time = Duration::from_millis(500);
        config.pool.min_connections = 0;
        config.pool.connection_timeout = Duration::from_secs(10);
        config.general.shutdown_timeout = Duration::from_secs(5);
        config.users = vec![
            User { name: "postgres".into(), auth: AuthMethod::Trust, ..User::default() },
            User {
                name: "app".into(),
                password: Some("app-secret".into()),
                auth: AuthMethod::ScramSha256,
                backend_user: Some("postgres".into()),
                ..User::default()
            },
            User {
                name: "app_md5".into(),
                password: Some("md5-secret".into()),
                auth: AuthMethod::Md5,
                backend_user: Some("postgres".into()),
                ..User::default()
            },
        ];
        TestProxy { config, dir }
    }

    /// A proxy in front of the harness MariaDB primary and replica. Users: `root` (trust), `app`
    /// (caching_sha2_password, password `app-secret`) and `app_native` (mysql_native_password, password
    /// `native-pw`); `app` logs in to MariaDB as password-less root, `app_native` as the harness's native user.
    pub async fn mysql() -> TestProxy {
        let my = common::my().await;
        let dir = tempfile::tempdir().expect("data dir");
        let mut config = Config::default();
        config.general.data_dir = dir.path().to_path_buf();
        config.listen.postgres = String::new();
        config.listen.mysql = "127.0.0.1:0".into();
        config.listen.admin = String::new();
        config.listen.metrics = String::new();
        config.postgres.primary = None;
        config.mysql.primary = Some(server("primary", my.primary));
        config.mysql.replicas = vec![server("replica1", my.replica)];
        config.health.interval = Duration::from_millis(200);
        config.health.ban_time = Duration::from_millis(500);
        config.pool.min_connections = 0;
        config.pool.connection_timeout = Duration::from_secs(10);
        config.general.shutdown_timeout = Duration::from_secs(5);
        config.users = vec![
            User { name: "root".into(), auth: AuthMethod::Trust, ..User::default() },
            User {
                name: "app".into(),
                password: Some("app-secret".into()),
                auth: AuthMethod::ScramSha256,
                backend_user: Some("root".into()),
                backend_password: Some(String::new()),
                ..User::default()
            },
            User {
                name: "app_native".into(),
                password: Some("native-pw".into()),
                auth: AuthMethod::Md5,
                backend_user: Some(common::MY_NATIVE_USER.into()),
                backend_password: Some(common::MY_NATIVE_PASSWORD.into()),
                ..User::default()
            },
        ];
        TestProxy { config, dir }
    }

    /// Changes the configuration before start.
    pub fn with(mut self, f: impl FnOnce(&mut Config)) -> TestProxy {
        f(&mut self.config);
        self
    }

    /// Starts it. The proxy's logs go to the test's captured output, so a failing test shows them. Scheduled
    /// jobs are off (a wall-clock snapshot or maintenance run would land in the middle of a test's counts).
    pub async fn start(mut self) -> Running {
        self.config.schedule.analyze.clear();
        self.config.schedule.optimize.clear();
        self.config.schedule.monitor.clear();
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        let handle = server::start(self.config).await.expect("proxy starts");
        Running { handle, _dir: self.dir }
    }
}

/// A started proxy.
pub struct Running {
    pub handle: Handle,
    _dir: tempfile::TempDir,
}

impl Running {
    /// The PostgreSQL listener address.
    pub fn pg_addr(&self) -> SocketAddr {
        self.handle.postgres_addr.expect("postgres listener configured")
    }

    /// A libpq-style connection string for `user` and `db` through the proxy.
    pub fn pg_url(&self, user: &str, db: &str) -> String {
        let a = self.pg_addr();
        format!("host={} port={} user={user} dbname={db} sslmode=disable", a.ip(), a.port())
    }

    /// A tokio-postgres client through the proxy.
    pub async fn pg(&self, user: &str, db: &str) -> tokio_postgres::Client {
        connect(&self.pg_url(user, db)).await.expect("connect through the proxy")
    }

    /// Largest number of backends any pool of `server` has held at once.
    pub fn max_active_seen(&self, server: &str) -> usize {
        let pg = self.handle.postgres.as_ref().expect("postgres engine");
        pg.pools().iter().filter(|(s, ..)| s == server).map(|(.., p)| p.stats().max_active_seen).max().unwrap_or(0)
    }
}

impl Running {
    /// The MySQL listener address.
    pub fn my_addr(&self) -> SocketAddr {
        self.handle.mysql_addr.expect("mysql listener configured")
    }

    /// A mysql_async connection through the proxy.
    pub async fn my_try(
        &self,
        user: &str,
        password: Option<&str>,
        db: Option<&str>,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        common::my_connect(self.my_addr(), user, password, db).await
    }

    /// A mysql_async connection through the proxy; panics if it fails.
    pub async fn my(&self, user: &str, password: Option<&str>, db: Option<&str>) -> mysql_async::Conn {
        match self.my_try(user, password, db).await {
            Ok(c) => c,
            Err(e) => panic!("connect through the proxy as {user}: {e}"),
        }
    }

    /// Largest number of backends any MySQL pool of `server` has held at once.
    pub fn my_max_active_seen(&self, server: &str) -> usize {
        let my = self.handle.mysql.as_ref().expect("mysql engine");
        my.pools().iter().filter(|(s, ..)| s == server).map(|(.., p)| p.stats().max_active_seen).max().unwrap_or(0)
    }
}

/// The server error code of a mysql_async error, if the server (or proxy) sent one.
pub fn my_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Runs the `mariadb` CLI against `port` as root with `args`, feeding `stdin`; returns (success, stdout, stderr).
pub async fn mariadb_cli(port: u16, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut cmd = std::process::Command::new("mariadb");
    cmd.arg("--no-defaults").args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "root", "--batch"]).args(args);
    let out = run_command(cmd, Some(stdin.as_bytes().to_vec()), Duration::from_secs(120)).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command to completion on a blocking thread, feeding `stdin`, killing it after `limit`.
///
/// `std::process` on purpose: each test has its own runtime, and `tokio::process` reaps children through the
/// signal driver of the runtime that first set up SIGCHLD handling, so a wait can hang once that runtime is gone.
pub async fn run_command(
    mut cmd: std::process::Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn command");
    let pid = child.id();
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let wait = tokio::task::spawn_blocking(move || child.wait_with_output());
    match tokio::time::timeout(limit, wait).await {
        Ok(out) => out.expect("wait thread").expect("command ran"),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("command did not finish within {limit:?}: {cmd:?}");
        }
    }
}

/// Connects with tokio-postgres (no TLS) and spawns the connection task.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn server(name: &str, addr: SocketAddr) -> ServerConfig {
    ServerConfig { name: name.into(), addr: addr.to_string(), weight: 1 }
}

/// Polls `f` every 50 ms until it returns true or `limit` passes; returns whether it did.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if f().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SQLSTATE of a tokio-postgres error, if the server (or proxy) sent one.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.as_db_error().map(|d| d.code().code().to_string())
}
