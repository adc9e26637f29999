//! The metrics and health HTTP/1.1 endpoint (hyper 1): `GET /metrics` (Prometheus text format 0.0.4),
//! `GET /healthz` (the process is up) and `GET /readyz` (the proxy can serve: [`Endpoints::ready`]).
//! Unknown paths get 404, other methods on a known path 405.
//!
//! One task per connection; a malformed request or a client that stalls only ends its own connection (hyper
//! answers 400, the header read times out). On shutdown the listener stops accepting, every connection
//! finishes the request in flight and closes, and whatever is left after [`DRAIN_TIMEOUT`] is aborted.
//!
//! Deliberately not here: what the metrics say or when the proxy is ready (the [`Endpoints`] implementor
//! decides), TLS, authentication, and any other route.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for open connections to finish their request before aborting them.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (out of file descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the endpoint serves; implemented by the running proxy (and by tests).
pub trait Endpoints: Send + Sync {
    /// The body of `GET /metrics`, in Prometheus text format 0.0.4.
    fn metrics(&self) -> String;

    /// `Ok` when the proxy can serve clients; otherwise why not (the body of the 503).
    fn ready(&self) -> Result<(), String>;
}

/// Serves `listener` until `shutdown` fires, then drains open connections (at most [`DRAIN_TIMEOUT`]) and
/// returns. Accept errors are logged and retried; they never end the server.
pub async fn serve(listener: TcpListener, endpoints: Arc<dyn Endpoints>, shutdown: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let endpoints = endpoints.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        if let Err(e) = serve_connection(stream, endpoints, shutdown).await {
                            tracing::debug!(%peer, "metrics connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics listener: accept failed: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::debug!(left = connections.len(), "metrics endpoint: aborting connections after drain timeout");
        connections.shutdown().await;
    }
}

/// Runs one HTTP/1.1 connection until the client closes it or, after `shutdown`, until its request in flight
/// is answered.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    endpoints: Arc<dyn Endpoints>,
    shutdown: CancellationToken,
) -> Result<(), hyper::Error> {
    let service = service_fn(move |request| {
        let endpoints = endpoints.clone();
        async move { Ok::<_, Infallible>(respond(&request, &*endpoints)) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        _ = shutdown.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

/// The response to one request.
fn respond(request: &Request<Incoming>, endpoints: &dyn Endpoints) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return text(StatusCode::NOT_FOUND, "not found\n".into());
    }
    if request.method() != Method::GET {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into());
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    match path {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(endpoints.metrics())));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/healthz" => text(StatusCode::OK, "ok".into()),
        _ => match endpoints.ready() {
            Ok(()) => text(StatusCode::OK, "ready".into()),
            Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
        },
    }
}

/// A plain-text response.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
