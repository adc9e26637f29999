//! A PostgreSQL client's start-up: SSLRequest / GSSENCRequest answers and the TLS upgrade, CancelRequest
//! forwarding, protocol version check, client authentication against the configured users, and the initial
//! ParameterStatus / BackendKeyData / ReadyForQuery. Ends with a ready [`Session`] or with the client told why not.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use crate::config::{AuthMethod, PoolMode, User};
use crate::net::ClientStream;
use crate::protocol::postgres::{self as pg, ProtocolError, ScramVerifier, StartupPacket, messages};

use super::engine::PgEngine;
use super::relay::{Login, Session};
use super::state::ClientState;
use super::{SessionError, fatal};

/// Protocol 3.0.
const PROTOCOL_3_0: u32 = 196_608;

/// Start-up parameters that are not session settings.
const NOT_SETTINGS: &[&str] = &["user", "database", "replication", "options"];

/// Runs the start-up of a new client connection.
pub async fn handshake(
    engine: &Arc<PgEngine>,
    tls: Option<&TlsAcceptor>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Result<Option<Session>, SessionError> {
    let config = engine.config();
    let max = config.general.max_message_size;
    let mut stream = ClientStream::Plain(socket);
    let params = loop {
        let Some(packet) = pg::read_startup(&mut stream, max).await? else { return Ok(None) };
        match packet {
            StartupPacket::SslRequest => match (stream, tls) {
                (ClientStream::Plain(mut s), Some(acceptor)) => {
                    s.write_all(b"S").await?;
                    stream = ClientStream::Tls(Box::new(acceptor.accept(s).await?));
                }
                (mut s, _) => {
                    s.write_all(b"N").await?;
                    stream = s;
                }
            },
            StartupPacket::GssEncRequest => stream.write_all(b"N").await?,
            StartupPacket::Cancel { pid, secret } => {
                if let Ok(secret) = <[u8; 4]>::try_from(secret.as_slice()) {
                    engine.cancels.cancel(pid, i32::from_be_bytes(secret)).await;
                }
                return Ok(None);
            }
            StartupPacket::Startup { version, params } => {
                if version != PROTOCOL_3_0 {
                    let msg = format!(
                        "unsupported frontend protocol {}.{}: Switchyard supports 3.0",
                        version >> 16,
                        version & 0xffff
                    );
                    fatal(&mut stream, "0A000", &msg).await;
                    return Ok(None);
                }
                break params;
            }
        }
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(user_name) = get("user").filter(|u| !u.is_empty()) else {
        fatal(&mut stream, "28000", "no PostgreSQL user name specified in startup packet").await;
        return Ok(None);
    };
    let database = get("database").filter(|d| !d.is_empty()).unwrap_or_else(|| user_name.clone());
    tracing::Span::current().record("user", user_name.as_str()).record("db", database.as_str());
    let Some(user) = config.user(&user_name).cloned() else {
        fatal(&mut stream, "28000", &format!("role \"{user_name}\" is not allowed to connect through this proxy"))
            .await;
        return Ok(None);
    };
    if let Err(e) = authenticate(engine, &mut stream, &user, max).await {
        tracing::info!(error = %e, %peer, "client authentication failed");
        let msg = format!("password authentication failed for user \"{user_name}\"");
        fatal(&mut stream, "28P01", &msg).await;
        return Ok(None);
    }
    let server_params = match engine.server_parameters(&user, &database).await {
        Ok(p) => p,
        Err(e) => {
            fatal(&mut stream, e.sqlstate.as_deref().unwrap_or("08006"), &e.message).await;
            return Ok(None);
        }
    };
    let mut state = ClientState::default();
    for (name, value) in &params {
        if !NOT_SETTINGS.contains(&name.as_str()) {
            state.set_parameter(name, value);
        }
    }
    if let Some(options) = get("options") {
        for (name, value) in parse_options(&options) {
            state.set_parameter(&name, &value);
        }
    }
    let pid = engine.next_pid();
    let secret: i32 = rand::random();
    let cancel = engine.cancels.register(pid, secret);
    let mut out = BytesMut::with_capacity(512);
    messages::auth_ok(&mut out);
    for (name, value) in server_params.iter() {
        let value = params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v).unwrap_or(value);
        messages::parameter_status(&mut out, name, value);
    }
    messages::backend_key_data(&mut out, pid, secret);
    messages::ready_for_query(&mut out, b'I');
    stream.write_all(&out).await?;
    let mode = user.pool_mode.unwrap_or(config.pool.mode);
    let login = Login { user: Arc::new(user), database, pid, cancel, session_mode: mode == PoolMode::Session, state };
    Ok(Some(Session::new(engine.clone(), stream, login)))
}

async fn authenticate(
    engine: &PgEngine,
    stream: &mut ClientStream,
    user: &User,
    max: usize,
) -> Result<(), ProtocolError> {
    match user.auth {
        AuthMethod::Trust => Ok(()),
        AuthMethod::Md5 => {
            let password = user.password.as_deref().unwrap_or_default();
            pg::server_md5(stream, &user.name, password, max).await
        }
        AuthMethod::ScramSha256 => {
            let verifier: Arc<ScramVerifier> = engine.scram_verifier(user)?;
            pg::server_scram(stream, &user.name, &verifier, max).await
        }
    }
}

/// Parses `-c name=value` and `--name=value` pairs from the `options` start-up parameter.
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let pair = if w == "-c" {
            words.next()
        } else if let Some(rest) = w.strip_prefix("-c") {
            Some(rest)
        } else {
            w.strip_prefix("--")
        };
        if let Some((k, v)) = pair.and_then(|p| p.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_options;

    #[test]
    fn options_are_split_into_settings() {
        let got = parse_options("-c search_path=a,b --statement-timeout=5s -cwork_mem=1MB junk");
        assert_eq!(
            got,
            vec![
                ("search_path".to_string(), "a,b".to_string()),
                ("statement_timeout".to_string(), "5s".to_string()),
                ("work_mem".to_string(), "1MB".to_string())
            ]
        );
    }
}
