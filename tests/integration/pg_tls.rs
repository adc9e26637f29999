//! TLS towards clients: `sslmode=require` works with a certificate; without one `prefer` falls back to plain and
//! `require` is refused clearly. Driven with the real `psql`.

use std::process::Command;

use crate::proxy::TestProxy;

fn psql(addr: std::net::SocketAddr, sslmode: &str, sql: &str) -> (bool, String) {
    let conninfo = format!(
        "host={} port={} user=postgres dbname=postgres sslmode={sslmode} connect_timeout=5",
        addr.ip(),
        addr.port()
    );
    let out = Command::new("psql").args([&conninfo, "-XAtc", sql]).output().expect("run psql");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_sslmode_require_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let p = TestProxy::postgres()
        .await
        .with(|c| {
            c.tls.cert = Some(cert_path.clone());
            c.tls.key = Some(key_path.clone());
        })
        .start()
        .await;
    let addr = p.pg_addr();
    let (ok, out) = tokio::task::spawn_blocking(move || psql(addr, "require", "\\conninfo")).await.unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("SSL connection"), "psql reports TLS: {out}");
    let (ok, out) = tokio::task::spawn_blocking(move || psql(addr, "require", "SELECT 40 + 2")).await.unwrap();
    assert!(ok && out.trim() == "42", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_certificate_prefer_falls_back_and_require_is_refused() {
    let p = TestProxy::postgres().await.start().await;
    let addr = p.pg_addr();
    let (ok, out) = tokio::task::spawn_blocking(move || psql(addr, "prefer", "SELECT 'plain'")).await.unwrap();
    assert!(ok && out.trim() == "plain", "{out}");
    let (ok, out) = tokio::task::spawn_blocking(move || psql(addr, "require", "SELECT 1")).await.unwrap();
    assert!(!ok, "require must fail without a certificate");
    assert!(out.contains("server does not support SSL"), "clear refusal: {out}");
}
