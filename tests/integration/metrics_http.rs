//! The metrics HTTP endpoint over real sockets: status codes and bodies of `/metrics`, `/healthz`, `/readyz`,
//! unknown paths and methods, malformed and stalled clients, clean shutdown; and a real Prometheus server
//! (the Debian `prometheus` binary) scraping it and answering queries with the values recorded.
//!
//! Deliberately not here: the proxy. The endpoint is served in-process over a real `Metrics` and a test
//! [`Endpoints`] whose sample and readiness the tests set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use switchyard::config::Role;
use switchyard::metrics::http::{DRAIN_TIMEOUT, Endpoints, METRICS_CONTENT_TYPE, serve};
use switchyard::metrics::{Metrics, PoolSample, QueryObservation, Sample};
use switchyard::pool::PoolStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::{self, Watchdog};

/// Bound on one HTTP exchange.
const EXCHANGE: Duration = Duration::from_secs(10);

/// Bound on Prometheus starting, scraping and answering with a value.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(60);

/// A real [`Metrics`] plus the sample and readiness a test sets.
struct TestEndpoints {
    metrics: Metrics,
    sample: Mutex<Sample>,
    ready: Mutex<Result<(), String>>,
}

impl Endpoints for TestEndpoints {
    fn metrics(&self) -> String {
        self.metrics.render(&self.sample.lock())
    }

    fn ready(&self) -> Result<(), String> {
        self.ready.lock().clone()
    }
}

/// The endpoint serving on a loopback port.
struct Running {
    addr: SocketAddr,
    endpoints: Arc<TestEndpoints>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

async fn start() -> Running {
    let endpoints = Arc::new(TestEndpoints {
        metrics: Metrics::new().expect("metrics registry"),
        sample: Mutex::new(Sample::default()),
        ready: Mutex::new(Ok(())),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind metrics listener");
    let addr = listener.local_addr().expect("listener address");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, endpoints.clone(), shutdown.clone()));
    Running { addr, endpoints, shutdown, task }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses one complete response (status line, headers, body up to end of input).
fn parse_reply(bytes: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Ok(Reply { status, headers, body: body.to_owned() })
}

/// Sends `raw` on a fresh connection and reads the reply until the server closes it.
async fn exchange(addr: SocketAddr, raw: &str) -> Result<Reply, String> {
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(raw.as_bytes()).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let bytes = tokio::time::timeout(EXCHANGE, io)
        .await
        .map_err(|_| format!("no reply within {EXCHANGE:?}"))?
        .map_err(|e| format!("exchange with {addr}: {e}"))?;
    parse_reply(&bytes)
}

/// `method path` as HTTP/1.1 with `Connection: close`.
pub(crate) async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    exchange(addr, &raw).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn observe(metrics: &Metrics, ok: bool) {
    metrics.observe_query(&QueryObservation {
        engine: "postgres",
        pool: "read",
        kind: "select",
        ok,
        seconds: 0.003,
        slow: false,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_answer_with_the_right_status() {
    let server = start().await;
    let addr = server.addr;
    observe(&server.endpoints.metrics, true);
    observe(&server.endpoints.metrics, true);

    let metrics = request(addr, "GET", "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.header("content-type"), Some(METRICS_CONTENT_TYPE));
    assert!(metrics.body.contains("# TYPE switchyard_queries_total counter\n"), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("switchyard_queries_total{engine=\"postgres\",outcome=\"ok\",pool=\"read\",type=\"select\"} 2\n"),
        "{}",
        metrics.body
    );
    let scrape = prometheus_parse::Scrape::parse(metrics.body.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    assert!(scrape.samples.iter().any(|s| s.metric == "switchyard_build_info"));

    let health = request(addr, "GET", "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    let ready = request(addr, "GET", "/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));
    *server.endpoints.ready.lock() = Err("no usable postgres primary".into());
    let not_ready = request(addr, "GET", "/readyz").await;
    assert_eq!((not_ready.status, not_ready.body.as_str()), (503, "no usable postgres primary"));
    // Liveness does not depend on readiness.
    assert_eq!(request(addr, "GET", "/healthz").await.status, 200);

    assert_eq!(request(addr, "GET", "/nope").await.status, 404);
    assert_eq!(request(addr, "GET", "/").await.status, 404);
    assert_eq!(request(addr, "GET", "/metrics/extra").await.status, 404);
    let post = request(addr, "POST", "/metrics").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
    assert_eq!(request(addr, "DELETE", "/healthz").await.status, 405);

    // A query string does not change the route.
    assert_eq!(request(addr, "GET", "/healthz?verbose=1").await.status, 200);

    server.shutdown.cancel();
    tokio::time::timeout(EXCHANGE, server.task).await.expect("serve returns after shutdown").expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_serves_several_requests() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = vec![0u8; 64 * 1024];
    for path in ["/healthz", "/readyz", "/healthz"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(raw.as_bytes()).await.expect("write request");
        // Small bodies with Content-Length: one read holds the whole reply on loopback, but read until the
        // body is complete to be sure.
        let mut got = Vec::new();
        let reply = loop {
            let n = tokio::time::timeout(EXCHANGE, stream.read(&mut buf)).await.expect("reply in time").expect("read");
            assert!(n > 0, "server closed a keep-alive connection after {path}");
            got.extend_from_slice(&buf[..n]);
            if let Ok(reply) = parse_reply(&got) {
                let len: usize = reply.header("content-length").and_then(|v| v.parse().ok()).expect("length");
                if reply.body.len() >= len {
                    break reply;
                }
            }
        };
        assert_eq!(reply.status, 200, "{path}");
    }
    server.shutdown.cancel();
    // Graceful shutdown closes the idle keep-alive connection: the client reads end-of-stream.
    let n = tokio::time::timeout(EXCHANGE, stream.read(&mut buf)).await.expect("closed in time").expect("read");
    assert_eq!(n, 0, "idle connection closed on shutdown");
    tokio::time::timeout(EXCHANGE, server.task).await.expect("serve returns").expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_stalled_clients_do_not_take_the_server_down() {
    let server = start().await;
    let addr = server.addr;

    let garbage = exchange(addr, "THIS IS NOT HTTP\r\n\0\0\0\r\n\r\n").await.expect("a reply to garbage");
    assert_eq!(garbage.status, 400);
    let huge_header = format!("GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(1024 * 1024));
    // hyper refuses an oversized head (431) or closes; either way the next client is served.
    if let Ok(reply) = exchange(addr, &huge_header).await {
        assert!(reply.status >= 400, "oversized head accepted: {}", reply.status);
    }

    // A client that sends half a request line and stalls holds only its own connection.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled.write_all(b"GET /metr").await.expect("write partial request");
    assert_eq!(request(addr, "GET", "/healthz").await.status, 200);
    assert_eq!(request(addr, "GET", "/metrics").await.status, 200);

    // Shutdown does not wait on the stalled client for longer than the drain bound.
    let began = Instant::now();
    server.shutdown.cancel();
    tokio::time::timeout(DRAIN_TIMEOUT + EXCHANGE, server.task).await.expect("serve returns").expect("no panic");
    assert!(began.elapsed() <= DRAIN_TIMEOUT + Duration::from_secs(2), "took {:?}", began.elapsed());
    // The stalled connection was closed by the server (end-of-stream, or a reset if it was aborted): the read
    // ends instead of hanging.
    let mut rest = Vec::new();
    let _eof_or_reset =
        tokio::time::timeout(EXCHANGE, stalled.read_to_end(&mut rest)).await.expect("stalled connection closed");
    assert!(!String::from_utf8_lossy(&rest).contains(" 200 "), "half a request was answered: {rest:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed after shutdown");
}

/// The Debian `prometheus` binary running on loopback in a harness directory. Dropping it kills the server
/// and waits for it; if the test process dies without dropping it, the directory's watchdog kills it (through
/// `prometheus/prometheus.pid`).
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
    _watchdog: Watchdog,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second.
    fn start(target: SocketAddr) -> Prometheus {
        let dir = common::fresh_dir("prometheus").expect("prometheus dir");
        let watchdog = Watchdog::spawn(&dir).expect("watchdog for the prometheus dir");
        let home = dir.join("prometheus");
        std::fs::create_dir_all(home.join("data")).expect("create prometheus data dir");
        let port = common::free_ports(1).expect("free port")[0];
        let config = home.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus config");
        let log = home.join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("create prometheus log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", home.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawn prometheus (installed by scripts/install-deps.sh)");
        std::fs::write(home.join("prometheus.pid"), child.id().to_string()).expect("write prometheus pid file");
        Prometheus { child, port, log, _watchdog: watchdog }
    }

    /// Panics with the log tail if the server has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("prometheus exited with {status}; log:\n{}", self.log_tail());
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// GETs `path_and_query` from the HTTP API and returns the JSON body.
    async fn api(&self, path_and_query: &str) -> Result<serde_json::Value, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        // HTTP/1.0: no chunked encoding, the server closes after the reply.
        let reply = exchange(addr, &format!("GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n")).await?;
        if reply.status != 200 {
            return Err(format!("status {}: {}", reply.status, reply.body));
        }
        serde_json::from_str(&reply.body).map_err(|e| format!("bad JSON {:?}: {e}", reply.body))
    }

    /// The value of an instant query that returns one series, `None` while it returns none.
    async fn query_one(&self, promql: &str) -> Result<Option<f64>, String> {
        let json = self.api(&format!("/api/v1/query?query={}", percent_encode(promql))).await?;
        let result = json["data"]["result"].as_array().ok_or_else(|| format!("no result in {json}"))?;
        match result.as_slice() {
            [] => Ok(None),
            [series] => series["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| format!("no value in {series}")),
            more => Err(format!("{} series for {promql}: {json}", more.len())),
        }
    }

    /// Polls `promql` until it returns `want`, panicking with the last answer and the log tail at the deadline.
    async fn wait_for_value(&mut self, promql: &str, want: f64) {
        let what = format!("{promql} == {want} in prometheus");
        let outcome = common::poll_until(&what, PROMETHEUS_WAIT, async || {
            self.assert_running();
            let got = self.query_one(promql).await?;
            Ok::<_, String>((got == Some(want)).then_some(()))
        })
        .await;
        if let Err(e) = outcome {
            panic!("{e}\nlast value: {:?}\nprometheus log:\n{}", self.query_one(promql).await, self.log_tail());
        }
    }

    /// The metric type Prometheus recorded from the scrape (`/api/v1/metadata`).
    async fn metric_type(&mut self, metric: &str) -> String {
        let outcome = common::poll_until(&format!("metadata of {metric}"), PROMETHEUS_WAIT, async || {
            self.assert_running();
            let json = self.api(&format!("/api/v1/metadata?metric={metric}")).await?;
            Ok::<_, String>(json["data"][metric][0]["type"].as_str().map(str::to_owned))
        })
        .await;
        outcome.unwrap_or_else(|e| panic!("{e}\nprometheus log:\n{}", self.log_tail()))
    }

    /// Kills the server and waits for it (also done on drop); returns its pid.
    fn stop(&mut self) -> u32 {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        pid
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes everything but unreserved characters, for a URL query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// True while a process with this pid exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")) {
        Ok(status) => !status.lines().any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_recorded_values() {
    let server = start().await;
    for _ in 0..3 {
        observe(&server.endpoints.metrics, true);
    }
    observe(&server.endpoints.metrics, false);
    *server.endpoints.sample.lock() = Sample {
        pools: vec![PoolSample {
            engine: "postgres",
            server: "pg-primary".into(),
            role: Role::Write,
            stats: PoolStats { active: 5, max: 20, checkouts: 1234, ..PoolStats::default() },
        }],
        ..Sample::default()
    };

    let mut prometheus = Prometheus::start(server.addr);
    prometheus.wait_for_value(r#"switchyard_queries_total{outcome="ok"}"#, 3.0).await;
    prometheus.wait_for_value(r#"switchyard_queries_total{outcome="error"}"#, 1.0).await;
    prometheus.wait_for_value(r#"switchyard_pool_utilisation_ratio{server="pg-primary",role="write"}"#, 0.25).await;
    prometheus.wait_for_value("switchyard_pool_checkouts_total", 1234.0).await;
    assert_eq!(prometheus.metric_type("switchyard_pool_checkouts_total").await, "counter");
    assert_eq!(prometheus.metric_type("switchyard_queries_total").await, "counter");
    assert_eq!(prometheus.metric_type("switchyard_query_duration_seconds").await, "histogram");
    assert_eq!(prometheus.metric_type("switchyard_pool_utilisation_ratio").await, "gauge");

    // Counters move by exactly what is observed between scrapes.
    observe(&server.endpoints.metrics, true);
    observe(&server.endpoints.metrics, true);
    prometheus.wait_for_value(r#"switchyard_queries_total{outcome="ok"}"#, 5.0).await;
    prometheus.wait_for_value(r#"switchyard_query_duration_seconds_count{type="select"}"#, 6.0).await;
    prometheus.wait_for_value(r#"up{job="switchyard"}"#, 1.0).await;

    let pid = prometheus.stop();
    drop(prometheus);
    assert!(!process_alive(pid), "prometheus (pid {pid}) still running after the test");
    server.shutdown.cancel();
    tokio::time::timeout(EXCHANGE, server.task).await.expect("serve returns").expect("no panic");
}

/// The real proxy's `/metrics`, scraped by a real Prometheus: the query counter follows the statements sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_running_proxy() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = crate::proxy::TestProxy::postgres().await.with(|c| c.listen.metrics = "127.0.0.1:0".into()).start().await;
    let addr = p.handle.metrics_addr.expect("metrics listener");
    let c = p.pg("postgres", "postgres").await;
    for i in 0..4 {
        c.simple_query(&format!("SELECT {i}")).await.unwrap();
    }
    let mut prometheus = Prometheus::start(addr);
    let ok = r#"sum(switchyard_queries_total{engine="postgres",type="select",outcome="ok"})"#;
    prometheus.wait_for_value(ok, 4.0).await;
    prometheus.wait_for_value(r#"switchyard_server_up{engine="postgres",server="primary"}"#, 1.0).await;
    assert_eq!(prometheus.metric_type("switchyard_backend_connections").await, "gauge");
    c.simple_query("SELECT 5").await.unwrap();
    prometheus.wait_for_value(ok, 5.0).await;
    let pid = prometheus.stop();
    drop(prometheus);
    assert!(!process_alive(pid), "prometheus (pid {pid}) still running after the test");
}
