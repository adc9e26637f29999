//! The control port in the PostgreSQL protocol (pgwire): SCRAM-SHA-256 against `[admin] user / password`
//! (read per login, so a reload applies), the simple query protocol (psql, sqlx's `fetch_all(&str)`; several
//! commands separated by `;` answer one result each) and the extended protocol (tokio-postgres, JDBC). Every
//! column is `text`. A failed command answers an ErrorResponse with its SQLSTATE; the connection stays open.
//!
//! Deliberately not here: TLS (the control port is meant for loopback) and what the commands do.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Sink, stream};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DataRowEncoder, DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse, Response,
};
use pgwire::api::stmt::{NoopQueryParser, StoredStatement};
use pgwire::api::{ClientInfo, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::parse::{self, Command};
use super::{AdminError, Context, ResultSet};

/// PBKDF2 rounds of the SCRAM exchange (the RFC minimum).
const ITERATIONS: usize = 4096;

/// Accepts control connections until `shutdown`.
pub async fn serve(listener: TcpListener, ctx: Arc<Context>, shutdown: CancellationToken) {
    let handlers = Arc::new(Handlers::new(ctx));
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "control port accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = socket.set_nodelay(true);
        let (h, stop) = (handlers.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                r = pgwire::tokio::process_socket(socket, None, h) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "control connection ended");
                    }
                }
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// The handlers of every control connection.
struct Handlers {
    startup: Arc<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
    query: Arc<Queries>,
}

impl Handlers {
    fn new(ctx: Arc<Context>) -> Handlers {
        let mut scram = ScramAuth::new(Arc::new(AdminLogin { ctx: ctx.clone() }));
        scram.set_iterations(ITERATIONS);
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("15.0 (switchyard {})", env!("CARGO_PKG_VERSION"));
        let startup = Arc::new(SASLAuthStartupHandler::new(Arc::new(params)).with_scram(scram));
        Handlers { startup, query: Arc::new(Queries { ctx }) }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The admin login: the configured user's password, salted afresh per login. Any other user name gets the
/// secret of a random password, so that it fails exactly like a wrong password does.
struct AdminLogin {
    ctx: Arc<Context>,
}

impl Debug for AdminLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminLogin")
    }
}

#[async_trait]
impl AuthSource for AdminLogin {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let admin = self.ctx.config().admin.clone();
        let salt: [u8; 16] = rand::random();
        let password = if login.user() == Some(admin.user.as_str()) {
            admin.password
        } else {
            format!("{:032x}", rand::random::<u128>())
        };
        Ok(Password::new(Some(salt.to_vec()), gen_salted_password(&password, &salt, ITERATIONS)))
    }
}

/// Runs commands for both query protocols.
struct Queries {
    ctx: Arc<Context>,
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut out = Vec::new();
        for text in parse::split(query) {
            match self.ctx.execute(text).await {
                Ok(r) => out.push(Response::Query(encode(&r)?)),
                Err(e) => {
                    log_failure(text, &e);
                    // Like a server, stop at the first failing command of a multi-command text.
                    out.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(NoopQueryParser)
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
        _max: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let text = &portal.statement.statement;
        match self.ctx.execute(text).await {
            Ok(r) => Ok(Response::Query(encode(&r)?)),
            Err(e) => {
                log_failure(text, &e);
                Err(PgWireError::UserError(Box::new(error_info(&e))))
            }
        }
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let columns = self.describe(&target.statement).await?;
        Ok(DescribeStatementResponse::new(Vec::new(), fields(&columns, &Format::UnifiedText)))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let columns = self.describe(&portal.statement.statement).await?;
        Ok(DescribePortalResponse::new(fields(&columns, &portal.result_column_format)))
    }
}

impl Queries {
    /// The columns a command will answer, without side effects: read-only commands are run, the others have a
    /// fixed shape.
    async fn describe(&self, text: &str) -> PgWireResult<Vec<String>> {
        let command = parse::parse(text).map_err(|e| PgWireError::UserError(Box::new(error_info(&e.into()))))?;
        if command.read_only() {
            let r = self.ctx.run(&command).await.map_err(|e| PgWireError::UserError(Box::new(error_info(&e))))?;
            return Ok(r.columns);
        }
        Ok(action_columns(&command).iter().map(|c| c.to_string()).collect())
    }
}

/// The columns of a command that changes something.
fn action_columns(command: &Command) -> &'static [&'static str] {
    match command {
        Command::BanServer(_) | Command::UnbanServer(_) => &["engine", "server", "role", "status"],
        Command::CleanupConnections => &["engine", "server", "user", "database", "closed"],
        Command::AnalyzeTable(_) | Command::OptimizeTable(_) => {
            &["engine", "server", "table", "action", "outcome", "duration_ms", "started_at", "detail"]
        }
        _ => &["status", "detail"],
    }
}

fn fields(columns: &[String], format: &Format) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| FieldInfo::new(c.clone(), None, None, Type::TEXT, format.format_for(i)))
        .collect()
}

/// A result set as a text-only query response.
fn encode(r: &ResultSet) -> PgWireResult<QueryResponse> {
    let schema = Arc::new(
        r.columns
            .iter()
            .map(|c| FieldInfo::new(c.clone(), None, None, Type::TEXT, FieldFormat::Text))
            .collect::<Vec<_>>(),
    );
    let mut rows = Vec::with_capacity(r.rows.len());
    let mut enc = DataRowEncoder::new(schema.clone());
    for row in &r.rows {
        for v in row {
            enc.encode_field(v)?;
        }
        rows.push(Ok(enc.take_row()));
    }
    let response = QueryResponse::new(schema, stream::iter(rows));
    Ok(response)
}

fn error_info(e: &AdminError) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), e.sqlstate().to_string(), e.to_string())
}

fn log_failure(text: &str, e: &AdminError) {
    tracing::info!(command = %text.chars().take(200).collect::<String>(), error = %e, "control command failed");
}
