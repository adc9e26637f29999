//! A client of the control port: PostgreSQL protocol, simple queries, every result column read as text.
//!
//! Deliberately not here: the commands' meaning (the control port defines them; callers pick columns by name).

use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Column, ConnectOptions, Connection, Executor, Row};

use crate::config::Config;

/// How long reaching the control port may take before the command works standalone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to the control port.
pub struct Control {
    conn: PgConnection,
    /// The address connected to.
    pub addr: String,
}

/// The rows of one command, every value as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    /// Column names (empty when the command returned no rows).
    pub columns: Vec<String>,
    /// Rows, `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// The position of column `name` (case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }

    /// Value of column `name` in row `row`.
    pub fn get(&self, row: usize, name: &str) -> Option<&str> {
        self.rows.get(row)?.get(self.column(name)?)?.as_deref()
    }

    /// The rows as an array of JSON objects keyed by column name.
    pub fn to_json(&self) -> Value {
        let rows = self.rows.iter().map(|row| {
            let object: Map<String, Value> = self
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.clone(), v.clone().map_or(Value::Null, Value::String)))
                .collect();
            Value::Object(object)
        });
        Value::Array(rows.collect())
    }

    /// A human table.
    pub fn render(&self) -> String {
        let headers: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        super::table::render(&headers, &self.rows)
    }
}

impl Control {
    /// Connects to `listen.admin` as `[admin]`. `Ok(None)`: no control port configured or nothing answers there
    /// (the reason is printed on stderr); `Err`: it answered but refused the login or spoke no PostgreSQL.
    pub async fn connect(config: &Config) -> Result<Option<Control>, String> {
        let addr = config.listen.admin.clone();
        if addr.is_empty() {
            return Ok(None);
        }
        let Some((host, port)) = crate::net::split_host_port(&addr) else {
            return Err(format!("listen.admin `{addr}` is not ip:port"));
        };
        let opts = PgConnectOptions::new_without_pgpass()
            .host(&host)
            .port(port)
            .username(&config.admin.user)
            .password(&config.admin.password)
            .database(&config.admin.user)
            .ssl_mode(PgSslMode::Disable)
            .statement_cache_capacity(0);
        match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
            Err(_) => {
                super::progress(format!(
                    "control port {addr}: no answer within {CONNECT_TIMEOUT:?}; working standalone"
                ));
                Ok(None)
            }
            Ok(Err(sqlx::Error::Io(e))) => {
                super::progress(format!("control port {addr}: {e}; working standalone"));
                Ok(None)
            }
            Ok(Err(e)) => Err(format!("control port {addr}: {e}")),
            Ok(Ok(conn)) => Ok(Some(Control { conn, addr })),
        }
    }

    /// Runs one command and reads its rows as text.
    pub async fn query(&mut self, command: &str) -> Result<ResultSet, String> {
        let rows = self.conn.fetch_all(command).await.map_err(|e| match e {
            sqlx::Error::Database(d) => d.message().to_string(),
            e => e.to_string(),
        })?;
        let mut out = ResultSet::default();
        if let Some(first) = rows.first() {
            out.columns = first.columns().iter().map(|c| c.name().to_string()).collect();
        }
        for row in &rows {
            // A simple query's values arrive as text whatever their declared type, so reading them unchecked
            // as strings is exact.
            let values = (0..row.len()).map(|i| row.try_get_unchecked::<Option<String>, _>(i).ok().flatten());
            out.rows.push(values.collect());
        }
        Ok(out)
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
