//! The control port in the MySQL protocol (opensrv-mysql, optional: `listen.admin_mysql`), serving the same
//! commands as the PostgreSQL one: `mysql_native_password` against `[admin] user / password` with a random
//! scramble per connection (opensrv's default salt is a constant), a database named at login is accepted (and
//! ignored), and the few statements MySQL clients send on their own (`SELECT @@version_comment`, `SET NAMES`...)
//! get harmless answers. Every column is a string. A failed command answers an ERR packet; the connection stays.
//!
//! Deliberately not here: prepared statements (refused with an error), TLS, and what the commands do.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter, OkResponse,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{AdminError, Context, ResultSet};
use crate::protocol::mysql::auth::verify_native;

/// Length of the authentication scramble.
const SCRAMBLE: usize = 20;

/// Accepts control connections until `shutdown`.
pub async fn serve(listener: TcpListener, ctx: Arc<Context>, shutdown: CancellationToken) {
    let ids = Arc::new(AtomicU32::new(1));
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "mysql control port accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = socket.set_nodelay(true);
        let shim = Shim { ctx: ctx.clone(), scramble: scramble(), id: ids.fetch_add(1, Ordering::Relaxed) };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let (r, w) = socket.into_split();
            tokio::select! {
                r = AsyncMysqlIntermediary::run_on(shim, r, w) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "mysql control connection ended");
                    }
                }
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// A random scramble of printable bytes (never NUL, which ends the greeting's field, nor `$`).
fn scramble() -> [u8; SCRAMBLE] {
    let mut s = [0u8; SCRAMBLE];
    for b in &mut s {
        *b = loop {
            let c = rand::random_range(0x21u8..0x7f);
            if c != b'$' {
                break c;
            }
        };
    }
    s
}

/// One control connection.
struct Shim {
    ctx: Arc<Context>,
    scramble: [u8; SCRAMBLE],
    id: u32,
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = io::Error;

    fn version(&self) -> String {
        format!("5.7.0-switchyard-{}-admin", env!("CARGO_PKG_VERSION"))
    }

    fn connect_id(&self) -> u32 {
        self.id
    }

    fn salt(&self) -> [u8; SCRAMBLE] {
        self.scramble
    }

    async fn authenticate(&self, _plugin: &str, username: &[u8], salt: &[u8], auth_data: &[u8]) -> bool {
        let admin = self.ctx.config().admin.clone();
        let Ok(salt) = <&[u8; SCRAMBLE]>::try_from(salt) else { return false };
        let ok = username == admin.user.as_bytes() && verify_native(salt, &admin.password, auth_data);
        if !ok {
            tracing::info!(user = %String::from_utf8_lossy(username), "control port login refused");
        }
        ok
    }

    async fn on_prepare<'a>(&'a mut self, _query: &'a str, info: StatementMetaWriter<'a, W>) -> io::Result<()> {
        info.error(ErrorKind::ER_UNSUPPORTED_PS, b"prepared statements are not supported on the control port").await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        results.error(ErrorKind::ER_UNSUPPORTED_PS, b"prepared statements are not supported on the control port").await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_query<'a>(&'a mut self, query: &'a str, results: QueryResultWriter<'a, W>) -> io::Result<()> {
        if let Some(answer) = client_chatter(query) {
            return match answer {
                Some(r) => write(results, &r).await,
                None => results.completed(OkResponse::default()).await,
            };
        }
        match self.ctx.execute(query).await {
            Ok(r) => write(results, &r).await,
            Err(e) => {
                tracing::info!(command = %query.chars().take(200).collect::<String>(), error = %e, "control command failed");
                results.error(error_kind(&e), e.to_string().as_bytes()).await
            }
        }
    }

    async fn on_init<'a>(&'a mut self, _db: &'a str, writer: InitWriter<'a, W>) -> io::Result<()> {
        writer.ok().await
    }
}

/// Statements MySQL clients send by themselves: `Some(Some(rows))` answers rows, `Some(None)` a plain OK,
/// `None` means the text is a control command.
fn client_chatter(query: &str) -> Option<Option<ResultSet>> {
    let q = query.trim().trim_end_matches(';').trim();
    let lower = q.to_ascii_lowercase();
    if let Some(var) = lower.strip_prefix("select @@") {
        let name = var.split_whitespace().next().unwrap_or_default();
        let mut r = ResultSet::new(&[&format!("@@{name}")]);
        let value = match name {
            "version_comment" => Some("Switchyard control port".to_string()),
            "version" => Some(env!("CARGO_PKG_VERSION").to_string()),
            _ => None,
        };
        r.push(vec![value]);
        return Some(Some(r));
    }
    let harmless = [
        "set names",
        "set character set",
        "set character_set",
        "set autocommit",
        "set sql_mode",
        "set @@",
        "set session",
    ];
    harmless.iter().any(|p| lower.starts_with(p)).then_some(None)
}

async fn write<W: AsyncWrite + Send + Unpin>(results: QueryResultWriter<'_, W>, r: &ResultSet) -> io::Result<()> {
    let columns: Vec<Column> = r
        .columns
        .iter()
        .map(|c| Column {
            table: String::new(),
            column: c.clone(),
            coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
            colflags: ColumnFlags::empty(),
        })
        .collect();
    let mut w = results.start(&columns).await?;
    for row in &r.rows {
        w.write_row(row.iter().map(|v| v.as_deref())).await?;
    }
    w.finish().await
}

fn error_kind(e: &AdminError) -> ErrorKind {
    match e {
        AdminError::Syntax(_) => ErrorKind::ER_PARSE_ERROR,
        AdminError::InvalidValue(_) => ErrorKind::ER_WRONG_ARGUMENTS,
        AdminError::Unavailable(_) => ErrorKind::ER_NOT_SUPPORTED_YET,
        AdminError::NotFound(_) | AdminError::Failed(_) => ErrorKind::ER_UNKNOWN_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_chatter_is_answered_and_commands_are_not() {
        let r = client_chatter("select @@version_comment limit 1").unwrap().unwrap();
        assert_eq!(r.columns, vec!["@@version_comment"]);
        assert_eq!(r.get(0, "@@version_comment"), Some("Switchyard control port"));
        assert_eq!(client_chatter("SET NAMES utf8mb4"), Some(None));
        assert_eq!(client_chatter("SET slow_threshold.select = 100"), None);
        assert_eq!(client_chatter("show pools"), None);
    }

    #[test]
    fn scrambles_are_printable_and_differ() {
        let (a, b) = (scramble(), scramble());
        assert!(a.iter().all(|c| (0x21..0x7f).contains(c) && *c != b'$'));
        assert_ne!(a, b);
    }
}
