//! `RELOAD`: re-reads the configuration file the proxy was started from and applies it (as SIGHUP does). A file
//! that does not load or validate changes nothing, and the error lists every problem.

use super::super::{AdminError, Context, ResultSet};
use crate::server::ReloadError;

/// Re-reads and applies the configuration file.
pub fn run(ctx: &Context) -> Result<ResultSet, AdminError> {
    match ctx.live.reload_file() {
        Ok(notes) => {
            let file = ctx.live.file().map(|p| p.display().to_string()).unwrap_or_default();
            let mut r = ResultSet::done(format!("configuration reloaded from {file}"));
            for note in notes {
                r.push_text(["note".to_string(), note]);
            }
            Ok(r)
        }
        Err(e @ ReloadError::NoFile) => Err(AdminError::Unavailable(e.to_string())),
        Err(e) => Err(AdminError::Failed(format!("reload refused, the running configuration is kept: {e}"))),
    }
}
