//! Operating-system chores for the harness: fresh directories, free ports, running helper commands (as the
//! `postgres` user where needed), reading log tails, and polling a condition with a deadline.
//!
//! Deliberately no server knowledge here: what to run and what "ready" means live in `pg.rs` and `my.rs`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt::Display;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::error::HarnessError;

/// Prefix of every directory the harness creates under the system temp dir; the stale sweep looks for it.
pub const DIR_PREFIX: &str = "switchyard-it-";

/// Name of the file in a cluster directory that holds the pid of the test process that owns it.
pub const OWNER_FILE: &str = "owner";

/// Ports handed out by this process, so that two clusters starting at once never get the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Returns `n` distinct loopback ports that were free a moment ago and were not handed out before by this process.
pub fn free_ports(n: usize) -> Result<Vec<u16>, HarnessError> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    // Keep every listener open until all ports are chosen, so the kernel cannot give one port twice.
    let mut listeners = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(HarnessError::io("bind a free port"))?;
        let port = listener.local_addr().map_err(HarnessError::io("read a bound port"))?.port();
        listeners.push(listener);
        if handed_out.insert(port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// Creates a fresh directory `<tmp>/switchyard-it-<kind>-XXXXXX`, records this process as its owner, and
/// returns its path. Nothing removes it when the process exits: the cluster's watchdog does.
pub fn fresh_dir(kind: &str) -> Result<PathBuf, HarnessError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{kind}-"))
        .tempdir()
        .map_err(HarnessError::io("create a temp dir"))?
        .keep();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(HarnessError::io(format!("chmod {}", dir.display())))?;
    std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string())
        .map_err(HarnessError::io(format!("write owner file in {}", dir.display())))?;
    Ok(dir)
}

/// Creates `path` (and parents) as a directory.
pub fn make_dir(path: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(path).map_err(HarnessError::io(format!("create {}", path.display())))
}

/// Appends `text` to the file at `path`, keeping its owner.
pub fn append(path: &Path, text: &str) -> Result<(), HarnessError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(HarnessError::io(format!("open {}", path.display())))?;
    file.write_all(text.as_bytes()).map_err(HarnessError::io(format!("append to {}", path.display())))
}

/// Replaces the contents of an existing file at `path`, keeping its owner.
pub fn overwrite(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(HarnessError::io(format!("write {}", path.display())))
}

/// True when this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// The uid and gid of the OS user `name`, from /etc/passwd.
pub fn user_ids(name: &str) -> Result<(u32, u32), HarnessError> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(HarnessError::io("read /etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| HarnessError::Environment(format!("no OS user {name:?} (is the server package installed?)")))
}

/// Gives `path` to `owner` (uid, gid) and makes it private to that owner, as PostgreSQL demands of its dirs.
pub fn give_dir(path: &Path, owner: Option<(u32, u32)>) -> Result<(), HarnessError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(HarnessError::io(format!("chown {}", path.display())))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(HarnessError::io(format!("chmod {}", path.display())))
}

/// A command for `program`, run as `user` through `runuser` when this process is root, as itself otherwise.
/// It runs in `cwd`, in its own process group (so a Ctrl-C aimed at the test run does not reach servers it
/// starts), with stdin closed.
pub fn command_as(user: &str, program: &Path, cwd: &Path) -> Command {
    let mut cmd = if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args([OsStr::new("-u"), OsStr::new(user), OsStr::new("--"), program.as_os_str()]);
        cmd
    } else {
        Command::new(program)
    };
    cmd.current_dir(cwd).process_group(0).stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Runs `cmd` to completion and returns its stdout; a non-zero exit is an error carrying its output.
///
/// The child is waited for on a blocking thread with `std::process`, not with `tokio::process`: each test has
/// its own runtime, and tokio reaps children through the signal driver of the runtime that first set up SIGCHLD
/// handling, so once that test's runtime is gone a later `tokio::process` wait can hang forever.
pub async fn run(cmd: Command, what: &str) -> Result<String, HarnessError> {
    let mut std_cmd = cmd.into_std();
    let out = tokio::task::spawn_blocking(move || std_cmd.output())
        .await
        .map_err(|e| HarnessError::io(format!("run {what}"))(std::io::Error::other(e)))?
        .map_err(HarnessError::io(format!("run {what}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(HarnessError::Command {
        what: what.to_owned(),
        status: out.status,
        output: format!("{}\n{}", stderr.trim(), stdout.trim()).trim().to_owned(),
    })
}

/// The last `lines` lines of the file at `path`, or a note saying why it could not be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Polls `probe` until it yields `Some`, at most `timeout` long, with a short growing pause between probes.
/// `Ok(None)` and `Err(_)` both mean "not yet"; the last error is reported on timeout.
pub async fn poll_until<T, E: Display>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<Option<T>, E>,
) -> Result<T, HarnessError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let last = match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("condition not met"),
            Err(err) => err.to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(HarnessError::Timeout { what: what.to_owned(), waited: start.elapsed(), last });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
