//! One watchdog process per cluster: it stops the cluster's servers and removes its directory once the test
//! process is gone, because Rust never drops the statics that hold the clusters.
//!
//! How: the watchdog is `sh` reading its stdin from a pipe whose only write end this process holds (Rust opens
//! pipes close-on-exec, so no server inherits it). When the test process exits, however it exits (normally, by
//! panic, by SIGKILL), the kernel closes that end, `cat` sees end-of-file, and the cleanup runs. The watchdog
//! sits in its own process group and ignores INT/HUP/TERM, so a Ctrl-C or a TERM sent to the whole run does not
//! stop it before its work is done. Dropping a [`Watchdog`] (a cluster start that failed half-way) triggers the
//! cleanup at once.
//!
//! Cleanup finds servers through the pid files in the directory (`*/postmaster.pid`, `*/mariadbd.pid`, and
//! `*/prometheus.pid` written by the metrics test) and only signals a pid whose command line names the directory,
//! so a reused pid is never hit. [`sweep_stale`] runs the same cleanup over directories whose owner process no
//! longer exists, for the case where a watchdog was killed together with its test process.
//!
//! Deliberately not here: starting servers, and any cleanup while the test process is alive.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use std::os::unix::process::CommandExt;

use super::error::HarnessError;
use super::sys::{DIR_PREFIX, OWNER_FILE};

/// Stops every server of the directory `$1` (PostgreSQL with SIGQUIT, an immediate shutdown that also frees its
/// shared memory; MariaDB and Prometheus with SIGKILL), waits up to 10 s for each to go, then removes the
/// directory.
const CLEANUP: &str = r#"
dir=$1
alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
pids=
for f in "$dir"/*/postmaster.pid "$dir"/*/mariadbd.pid "$dir"/*/prometheus.pid; do
  [ -f "$f" ] || continue
  pid=$(head -n 1 "$f")
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  [ -r "/proc/$pid/cmdline" ] || continue
  tr '\000' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir" || continue
  case "$f" in
    *postmaster.pid) kill -QUIT "$pid" 2>/dev/null ;;
    *) kill -KILL "$pid" 2>/dev/null ;;
  esac
  pids="$pids $pid"
done
for pid in $pids; do
  n=0
  while alive "$pid" && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL "$pid" 2>/dev/null
done
rm -rf -- "$dir"
"#;

/// Ignore the signals a terminal or a supervisor sends to a whole run, then block until stdin closes.
const WATCH: &str = "trap '' INT HUP TERM QUIT PIPE\ncat >/dev/null 2>&1\n";

/// A running watchdog for one cluster directory. Keep it alive as long as the cluster: dropping it cleans up.
#[derive(Debug)]
pub struct Watchdog {
    /// The write end of the watchdog's stdin; closing it is the signal to clean up.
    stdin: ChildStdin,
    /// The watchdog process, kept only so its handle lives as long as the cluster.
    child: Child,
    /// The directory it guards.
    dir: PathBuf,
}

impl Watchdog {
    /// Starts a watchdog for `dir`. Call it right after creating the directory, before starting any server.
    pub fn spawn(dir: &Path) -> Result<Watchdog, HarnessError> {
        sweep_stale_once();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{WATCH}{CLEANUP}"))
            .arg("switchyard-watchdog")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(HarnessError::io("spawn the cluster watchdog"))?;
        let stdin = child.stdin.take().ok_or_else(|| HarnessError::Environment("watchdog has no stdin pipe".into()))?;
        Ok(Watchdog { stdin, child, dir: dir.to_owned() })
    }

    /// The directory this watchdog removes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The watchdog's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Runs [`sweep_stale`] once per process.
fn sweep_stale_once() {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(sweep_stale);
}

/// Cleans up harness directories in the temp dir whose owner process is gone (or that never got an owner and
/// are older than ten minutes). Best effort: a failure here must not stop a test run.
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        if is_stale(&dir) {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(CLEANUP)
                .arg("switchyard-sweep")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// True when `dir`'s owner process no longer exists.
fn is_stale(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join(OWNER_FILE)) {
        Ok(owner) => match owner.trim().parse::<u32>() {
            Ok(pid) => pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists(),
            Err(_) => true,
        },
        Err(_) => {
            let modified = std::fs::metadata(dir).and_then(|meta| meta.modified());
            let age = modified.ok().and_then(|time| SystemTime::now().duration_since(time).ok());
            age.is_some_and(|age| age > Duration::from_secs(600))
        }
    }
}
