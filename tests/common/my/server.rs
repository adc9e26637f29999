//! The `mariadbd` processes of the MariaDB test cluster: installing the system tables, the command line, and
//! spawning a server until it accepts TCP connections.
//!
//! Deliberately not here: users, replication set-up and waits (the parent module does those over SQL).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use std::os::unix::process::CommandExt;

use super::super::error::HarnessError;
use super::super::sys::{self, log_tail, poll_until, run};
use super::my_connect;

/// How long a server may take to accept connections.
const WAIT: Duration = Duration::from_secs(60);

/// Which of the two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The primary, with the binary log on.
    Primary,
    /// The read-only replica.
    Replica,
}

/// Spawns `mariadbd` for `role` and waits until it accepts TCP connections as root; on failure the error
/// carries the end of its error log.
pub async fn spawn_server(
    root: &Path,
    dir: &Path,
    addr: SocketAddr,
    socket: &Path,
    role: Role,
) -> Result<Child, HarnessError> {
    let name = match role {
        Role::Primary => "primary",
        Role::Replica => "replica",
    };
    let log = root.join(format!("{name}.err"));
    let mut cmd = std::process::Command::new("mariadbd");
    cmd.arg("--no-defaults").args(server_args(dir, addr.port(), socket, &log, role));
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    let mut child = cmd.spawn().map_err(HarnessError::io("spawn mariadbd"))?;
    let ready = poll_until(&format!("mariadbd {name} to accept connections"), WAIT, async || {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(Some(Err(status)));
        }
        let conn = my_connect(addr, "root", None, None).await.map_err(|err| err.to_string())?;
        conn.disconnect().await.map_err(|err| err.to_string())?;
        Ok::<_, String>(Some(Ok(())))
    })
    .await;
    match ready {
        Ok(Ok(())) => Ok(child),
        Ok(Err(status)) => {
            Err(HarnessError::ServerExited { what: format!("mariadbd {name} ({status})"), log: log_tail(&log, 30) })
        }
        Err(err) => {
            let _ = child.kill();
            Err(HarnessError::ServerExited { what: format!("mariadbd {name} ({err})"), log: log_tail(&log, 30) })
        }
    }
}

/// `mariadb-install-db` into `datadir`, with a password-less root on 127.0.0.1 (auth method "normal").
pub async fn install_db(root: &Path, datadir: &Path) -> Result<(), HarnessError> {
    let mut cmd = tokio::process::Command::new("mariadb-install-db");
    cmd.arg("--no-defaults").arg(format!("--datadir={}", datadir.display()));
    if sys::is_root() {
        cmd.arg("--user=root");
    }
    cmd.args(["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"]);
    cmd.current_dir(root).stdin(Stdio::null()).kill_on_drop(true);
    run(cmd, "mariadb-install-db").await.map(|_| ())
}

/// The `mariadbd` command line after `--no-defaults`.
fn server_args(dir: &Path, port: u16, socket: &Path, log: &Path, role: Role) -> Vec<String> {
    let mut args = vec![
        format!("--datadir={}", dir.display()),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--socket={}", socket.display()),
        format!("--pid-file={}", dir.join("mariadbd.pid").display()),
        format!("--log-error={}", log.display()),
        "--skip-name-resolve".to_owned(),
        "--binlog-format=ROW".to_owned(),
        "--gtid-strict-mode=1".to_owned(),
        "--max-connections=300".to_owned(),
        "--innodb-buffer-pool-size=64M".to_owned(),
        "--innodb-flush-log-at-trx-commit=2".to_owned(),
        "--sync-binlog=0".to_owned(),
        "--performance-schema=OFF".to_owned(),
        "--character-set-server=utf8mb4".to_owned(),
        "--collation-server=utf8mb4_general_ci".to_owned(),
        format!("--relay-log={}", dir.join("relay-bin").display()),
    ];
    if sys::is_root() {
        args.push("--user=root".to_owned());
    }
    match role {
        Role::Primary => {
            args.push("--server-id=1".to_owned());
            args.push(format!("--log-bin={}", dir.join("binlog").display()));
        }
        Role::Replica => {
            args.push("--server-id=2".to_owned());
            args.push("--read-only=1".to_owned());
        }
    }
    args
}
