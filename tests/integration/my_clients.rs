//! MySQL clients log in through the proxy with mysql_native_password and caching_sha2_password (the proxy then
//! logs in to MariaDB with its own credentials), see the primary's version, and get 1045 / 1049 like from the
//! server. With a certificate configured, `mariadb --ssl` connects over TLS.

use mysql_async::prelude::Queryable;

use crate::common;
use crate::proxy::{TestProxy, mariadb_cli, my_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_caching_sha2_clients_connect() {
    let p = TestProxy::mysql().await.start().await;
    let mut native = p.my("app_native", Some("native-pw"), None).await;
    let who: Option<String> = native.query_first("SELECT CURRENT_USER()").await.expect("query as native user");
    assert!(who.unwrap_or_default().starts_with(common::MY_NATIVE_USER), "backend user is the configured one");
    assert!(native.server_version() >= (10, 0, 0), "MariaDB version passed through: {:?}", native.server_version());

    let mut sha2 = p.my("app", Some("app-secret"), Some("mysql")).await;
    let one: Option<i64> = sha2.query_first("SELECT 1").await.expect("query as caching_sha2 user");
    assert_eq!(one, Some(1));
    let db: Option<String> = sha2.query_first("SELECT DATABASE()").await.expect("database");
    assert_eq!(db.as_deref(), Some("mysql"));

    let mut root = p.my("root", None, None).await;
    assert_eq!(root.query_first::<i64, _>("SELECT 2").await.expect("trust user"), Some(2));
    native.disconnect().await.expect("quit");
    sha2.disconnect().await.expect("quit");
    root.disconnect().await.expect("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_database_are_refused_like_the_server() {
    let p = TestProxy::mysql().await.start().await;
    for (user, pw) in [("app", "wrong"), ("app_native", "wrong"), ("nobody", "x")] {
        let e = p.my_try(user, Some(pw), None).await.expect_err("login must fail");
        assert_eq!(my_code(&e), Some(1045), "{user}: {e}");
    }
    let e = p.my_try("root", None, Some("no_such_db")).await.expect_err("unknown database");
    assert_eq!(my_code(&e), Some(1049), "{e}");
    let mut ok = p.my("app", Some("app-secret"), None).await;
    assert_eq!(ok.query_first::<i64, _>("SELECT 3").await.expect("still serving"), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_connects_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("self-signed certificate");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let p = TestProxy::mysql()
        .await
        .with(|c| {
            c.tls.cert = Some(cert_path.clone());
            c.tls.key = Some(key_path.clone());
        })
        .start()
        .await;
    let port = p.my_addr().port();
    let (ok, out, err) = mariadb_cli(port, &["--ssl", "--ssl-verify-server-cert=0"], "status\nSELECT 40 + 2;\n").await;
    assert!(ok, "mariadb --ssl failed: {err}");
    let ssl_line = out.lines().find(|l| l.starts_with("SSL:")).unwrap_or_default();
    assert!(ssl_line.contains("Cipher in use"), "TLS in use: {out}");
    assert!(out.lines().any(|l| l.trim() == "42"), "query over TLS answered: {out}");

    let (ok, out, _) = mariadb_cli(port, &["--skip-ssl"], "status\n").await;
    assert!(ok);
    let ssl_line = out.lines().find(|l| l.starts_with("SSL:")).unwrap_or_default();
    assert!(ssl_line.contains("Not in use"), "plain connection still accepted: {out}");
}
