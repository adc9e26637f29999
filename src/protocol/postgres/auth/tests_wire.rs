//! Authentication exchanges over real streams: the proxy's server drivers against its own backend client and
//! against tokio-postgres over `tokio::io::duplex`, and `connect_backend` against the local PostgreSQL
//! (127.0.0.1:5432, trust for user postgres).

use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, DuplexStream, duplex};
use tokio::net::TcpStream;

use super::*;
use crate::protocol::postgres::messages::{
    auth_ok, auth_sasl, auth_sasl_continue, backend_key_data, error_response, parameter_status, ready_for_query,
};
use crate::protocol::postgres::{MAX_STARTUP_LEN, ProtocolError, StartupPacket, read_startup};

const MAX: usize = 64 * 1024;

/// How the fake server checks the password.
#[derive(Clone)]
enum Check {
    Scram(ScramVerifier),
    Md5(&'static str),
    Md5Hashed(String),
    Cleartext(&'static str),
}

/// A stand-in for the proxy's session: reads the startup packet, runs the driver, then sends what the caller of
/// the driver would send (AuthenticationOk and the rest, or 28P01). Returns the driver's result.
async fn fake_server(mut s: DuplexStream, check: Check) -> Result<(), ProtocolError> {
    let Some(StartupPacket::Startup { params, .. }) = read_startup(&mut s, MAX_STARTUP_LEN).await? else {
        return Err(ProtocolError::Malformed("expected a StartupMessage"));
    };
    let user = params.iter().find(|(k, _)| k == "user").map(|(_, v)| v.clone()).unwrap_or_default();
    let result = match &check {
        Check::Scram(verifier) => server_scram(&mut s, &user, verifier, MAX).await,
        Check::Md5(password) => server_md5(&mut s, &user, password, MAX).await,
        Check::Md5Hashed(stored) => server_md5_hashed(&mut s, &user, stored, MAX).await,
        Check::Cleartext(password) => server_cleartext(&mut s, &user, password, MAX).await,
    };
    let mut out = BytesMut::new();
    match &result {
        Ok(()) => {
            auth_ok(&mut out);
            parameter_status(&mut out, "server_version", "15.0 (switchyard test)");
            parameter_status(&mut out, "client_encoding", "UTF8");
            backend_key_data(&mut out, 4242, 99);
            ready_for_query(&mut out, b'I');
        }
        Err(ProtocolError::Auth(message)) => error_response(&mut out, "FATAL", "28P01", message),
        Err(_) => error_response(&mut out, "FATAL", "08P01", "protocol violation"),
    }
    // The client may already have hung up after a failure; that is not what these tests check.
    let _ = s.write_all(&out).await;
    result
}

/// Runs `connect_backend` with `password` against a fake server using `check`.
async fn ours(
    check: Check,
    password: Option<&str>,
) -> (Result<BackendHandshake, ProtocolError>, Result<(), ProtocolError>) {
    let (mut client, server) = duplex(4096);
    let server = tokio::spawn(fake_server(server, check));
    let params = [("user", "app"), ("database", "appdb"), ("application_name", "sy")];
    let result = connect_backend(&mut client, &params, password, MAX).await;
    // Hang up first: a server still waiting for a password must see the EOF.
    drop(client);
    (result, server.await.expect("server task"))
}

fn assert_connected(result: (Result<BackendHandshake, ProtocolError>, Result<(), ProtocolError>)) {
    let (client, server) = result;
    server.expect("server side accepted");
    let handshake = client.expect("client side connected");
    assert_eq!((handshake.pid, handshake.secret, handshake.status), (4242, 99, b'I'));
    assert_eq!(handshake.parameters[0], ("server_version".to_owned(), "15.0 (switchyard test)".to_owned()));
    assert_eq!(handshake.parameters.len(), 2);
}

fn assert_rejected(result: (Result<BackendHandshake, ProtocolError>, Result<(), ProtocolError>)) {
    let (client, server) = result;
    match server {
        Err(ProtocolError::Auth(m)) => assert_eq!(m, "password authentication failed for user \"app\""),
        other => panic!("server: {other:?}"),
    }
    match client {
        Err(ProtocolError::Backend(fields)) => assert_eq!(fields.code, "28P01"),
        other => panic!("client: {other:?}"),
    }
}

#[tokio::test]
async fn scram_between_our_two_sides() {
    let verifier = ScramVerifier::from_password("s3cret", b"0123456789abcdef", 4096);
    assert_connected(ours(Check::Scram(verifier.clone()), Some("s3cret")).await);
    assert_rejected(ours(Check::Scram(verifier), Some("wrong")).await);
}

#[tokio::test]
async fn md5_and_cleartext_between_our_two_sides() {
    assert_connected(ours(Check::Md5("pw"), Some("pw")).await);
    assert_rejected(ours(Check::Md5("pw"), Some("pW")).await);
    assert_connected(ours(Check::Md5Hashed(md5_password_hash("app", "pw")), Some("pw")).await);
    assert_rejected(ours(Check::Md5Hashed(md5_password_hash("other", "pw")), Some("pw")).await);
    assert_connected(ours(Check::Cleartext("pw"), Some("pw")).await);
    assert_rejected(ours(Check::Cleartext("pw"), Some("p")).await);
}

#[tokio::test]
async fn backend_asking_for_a_password_we_lack() {
    let (client, server) = ours(Check::Md5("pw"), None).await;
    assert!(matches!(client, Err(ProtocolError::Auth(_))), "{client:?}");
    assert!(matches!(server, Err(ProtocolError::Closed)), "{server:?}");
}

/// A backend script: the frames it sends after reading the startup packet, and what it reads in between.
async fn scripted_backend(frames: Vec<BytesMut>) -> Result<BackendHandshake, ProtocolError> {
    let (mut client, mut server) = duplex(4096);
    let server = tokio::spawn(async move {
        read_startup(&mut server, MAX_STARTUP_LEN).await?;
        for frame in frames {
            server.write_all(&frame).await?;
        }
        // Close our side (the client sees EOF after the script) and drain what the client sends until it hangs up.
        server.shutdown().await?;
        let mut sink = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut sink).await?;
        Ok::<_, ProtocolError>(())
    });
    let result = connect_backend(&mut client, &[("user", "app")], Some("pw"), MAX).await;
    drop(client);
    server.await.expect("server task").expect("script ran");
    result
}

fn frame(build: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut out = BytesMut::new();
    build(&mut out);
    out
}

#[tokio::test]
async fn backend_client_refuses_unsafe_servers() {
    let plus_only = scripted_backend(vec![frame(|o| auth_sasl(o, &["SCRAM-SHA-256-PLUS"]))]).await;
    assert!(matches!(plus_only, Err(ProtocolError::Auth(_))), "{plus_only:?}");

    // A server that claims success without finishing SCRAM has not proven it knows the verifier.
    let skipped = scripted_backend(vec![frame(|o| auth_sasl(o, &["SCRAM-SHA-256"])), frame(auth_ok)]).await;
    assert!(matches!(skipped, Err(ProtocolError::Auth(_))), "{skipped:?}");

    let early_continue = scripted_backend(vec![frame(|o| auth_sasl_continue(o, b"r=x,s=eA==,i=1"))]).await;
    assert!(matches!(early_continue, Err(ProtocolError::Malformed(_))), "{early_continue:?}");

    let unexpected = scripted_backend(vec![frame(|o| ready_for_query(o, b'I'))]).await;
    assert!(matches!(unexpected, Err(ProtocolError::UnexpectedMessage { tag: b'Z', .. })), "{unexpected:?}");

    let error = scripted_backend(vec![frame(|o| error_response(o, "FATAL", "53300", "too many clients"))]).await;
    assert!(matches!(error, Err(ProtocolError::Backend(ref f)) if f.code == "53300"), "{error:?}");

    let closed = scripted_backend(vec![frame(auth_ok)]).await;
    assert!(matches!(closed, Err(ProtocolError::Closed)), "{closed:?}");

    let trust = scripted_backend(vec![frame(auth_ok), frame(|o| ready_for_query(o, b'I'))]).await;
    assert_eq!(trust.unwrap(), BackendHandshake { pid: 0, secret: 0, parameters: vec![], status: b'I' });
}

/// Runs tokio-postgres (a real driver) against the proxy's server driver over a duplex stream.
async fn tokio_postgres_client(check: Check, password: &str) -> (Result<(), String>, Result<(), ProtocolError>) {
    let (client, server) = duplex(4096);
    let server = tokio::spawn(fake_server(server, check));
    let mut config = tokio_postgres::Config::new();
    config.user("app").password(password).dbname("appdb");
    // The error is reduced to its SQLSTATE (empty when the driver failed without one).
    let client = config
        .connect_raw(client, tokio_postgres::NoTls)
        .await
        .map(|_| ())
        .map_err(|e| e.code().map(|c| c.code().to_owned()).unwrap_or_default());
    (client, server.await.expect("server task"))
}

#[tokio::test]
async fn tokio_postgres_authenticates_to_our_server() {
    let verifier = ScramVerifier::generate("s3cret");
    let (client, server) = tokio_postgres_client(Check::Scram(verifier.clone()), "s3cret").await;
    assert_eq!((client, server.is_ok()), (Ok(()), true));
    let (client, server) = tokio_postgres_client(Check::Scram(verifier), "nope").await;
    assert_eq!(client, Err("28P01".to_owned()));
    assert!(matches!(server, Err(ProtocolError::Auth(_))));

    let (client, server) = tokio_postgres_client(Check::Md5("pw"), "pw").await;
    assert_eq!((client, server.is_ok()), (Ok(()), true));
    let (client, server) = tokio_postgres_client(Check::Md5("pw"), "px").await;
    assert_eq!(client, Err("28P01".to_owned()));
    assert!(matches!(server, Err(ProtocolError::Auth(_))), "{server:?}");

    let (client, server) = tokio_postgres_client(Check::Cleartext("pw"), "pw").await;
    assert_eq!((client, server.is_ok()), (Ok(()), true));
}

async fn local(params: &[(&str, &str)], password: Option<&str>) -> Result<BackendHandshake, ProtocolError> {
    let mut stream = TcpStream::connect("127.0.0.1:5432").await?;
    stream.set_nodelay(true)?;
    connect_backend(&mut stream, params, password, MAX).await
}

#[tokio::test]
async fn connect_backend_to_local_postgres() {
    let handshake = local(&[("user", "postgres"), ("database", "postgres"), ("application_name", "sy-test")], None)
        .await
        .expect("local PostgreSQL on 127.0.0.1:5432 (trust)");
    assert_eq!(handshake.status, b'I');
    assert_ne!(handshake.pid, 0);
    let version = handshake.parameters.iter().find(|(k, _)| k == "server_version").map(|(_, v)| v.as_str());
    assert!(version.is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())), "{version:?}");
    assert!(handshake.parameters.iter().any(|(k, v)| k == "application_name" && v == "sy-test"));

    let missing = local(&[("user", "postgres"), ("database", "sy_no_such_database")], None).await;
    assert!(matches!(missing, Err(ProtocolError::Backend(ref f)) if f.code == "3D000"), "{missing:?}");
}

/// PostgreSQL's own SCRAM verifier for a role is what `ScramVerifier` derives, and our server accepts the
/// password against it from both our client and tokio-postgres.
#[tokio::test]
async fn scram_verifier_matches_postgres() {
    let (client, connection) =
        tokio_postgres::connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", tokio_postgres::NoTls)
            .await
            .expect("local PostgreSQL");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(
            "SET password_encryption = 'scram-sha-256';
             DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sy_scram_test') THEN
                 CREATE ROLE sy_scram_test LOGIN;
               END IF;
             END $$;
             ALTER ROLE sy_scram_test PASSWORD 'x';",
        )
        .await
        .expect("create the test role");
    let row = client
        .query_one("SELECT rolpassword FROM pg_authid WHERE rolname = 'sy_scram_test'", &[])
        .await
        .expect("read the verifier");
    let stored: String = row.get(0);
    drop(client);
    connection.await.expect("connection task").expect("connection");

    let verifier = ScramVerifier::parse(&stored).expect("PostgreSQL's verifier parses");
    assert_eq!(verifier.to_string(), stored);
    assert_eq!(ScramVerifier::from_password("x", &verifier.salt, verifier.iterations), verifier);

    assert_connected(ours(Check::Scram(verifier.clone()), Some("x")).await);
    assert_rejected(ours(Check::Scram(verifier.clone()), Some("y")).await);
    let (client, server) = tokio_postgres_client(Check::Scram(verifier), "x").await;
    assert_eq!((client, server.is_ok()), (Ok(()), true));

    // The local server trusts 127.0.0.1, so it asks for no password; the handshake must still complete.
    let handshake = local(&[("user", "sy_scram_test"), ("database", "postgres")], Some("x")).await.expect("login");
    assert_eq!(handshake.status, b'I');
}
