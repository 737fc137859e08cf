//! Prometheus metrics: `GET /metrics` in the text exposition format.
//!
//! Why this shape: the `metrics` facade keeps instrumentation to one line at each site
//! (webhook, commit, live, auth), and `metrics-exporter-prometheus` renders the text
//! format without an HTTP server of its own (we serve it with axum). The endpoint is
//! never public by default: it answers only
//! - on a separate listener, `METRICS_ADDR` (e.g. `127.0.0.1:9100`, for a scraper on the
//!   same host or private network), and/or
//! - on the public address with `Authorization: Bearer $METRICS_TOKEN`.
//!
//! With neither set, `/metrics` is 404 like any unknown path.

use crate::server::http::AppState;
use axum::{
    extract::Request,
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{cell::Cell, sync::OnceLock, time::Instant};

pub const PATH: &str = "/metrics";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("leadline_webhook_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("leadline_commit_group_size".into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Folds recorded histogram samples into their buckets every few seconds. The exporter
/// keeps every sample until then, and did so until the next scrape: with no scraper
/// (the default) that was two samples per delivery for ever — the server's memory grew
/// about 3 MB a minute under load (scripts/soak). A thread of its own, because the
/// recorder is process-wide and outlives any one tokio runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(5));
        handle.run_upkeep();
    });
    if let Err(err) = started {
        tracing::warn!(error = %err, "metrics upkeep thread not started");
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("leadline_webhook_deliveries_total", "Webhook deliveries by format and outcome");
    describe_histogram!(
        "leadline_webhook_duration_seconds",
        Unit::Seconds,
        "Time from a delivery's arrival to its answer (committed before 2xx)"
    );
    describe_histogram!("leadline_commit_group_size", "Deliveries committed per SQLite transaction");
    describe_gauge!("leadline_writer_queue_depth", "Deliveries waiting for the SQLite writer");
    describe_counter!("leadline_database_errors_total", "Database errors by kind");
    describe_gauge!("leadline_sse_streams_open", "Open live-update (SSE) streams");
    describe_counter!("leadline_sign_in_failures_total", "Failed sign-ins");
    describe_counter!("leadline_leads_imported_total", "Leads created by CSV imports");
    describe_counter!("leadline_leads_exported_total", "Leads written to CSV exports");
}

/// The `/metrics` route on the public router, behind `METRICS_TOKEN`.
pub fn router() -> Router<AppState> {
    handle();
    Router::new().route(PATH, get(public_scrape))
}

async fn public_scrape(headers: HeaderMap) -> Response {
    let Some(expected) = std::env::var("METRICS_TOKEN").ok().filter(|t| !t.trim().is_empty()) else {
        return not_found();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    use subtle::ConstantTimeEq;
    if !bool::from(given.trim().as_bytes().ct_eq(expected.trim().as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(
                serde_json::json!({"error": "unauthorized", "message": "send Authorization: Bearer <METRICS_TOKEN>"}),
            ),
        )
            .into_response();
    }
    scrape().await
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "not_found", "message": "no such page"})))
        .into_response()
}

async fn scrape() -> Response {
    match handle() {
        Some(handle) => {
            handle.run_upkeep();
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response(),
    }
}

/// Starts the private metrics listener when `METRICS_ADDR` is set. It serves `/metrics`
/// only, without a token.
pub async fn spawn_listener() -> std::io::Result<()> {
    let Some(addr) = std::env::var("METRICS_ADDR").ok().filter(|a| !a.trim().is_empty()) else {
        return Ok(());
    };
    handle();
    let listener = tokio::net::TcpListener::bind(addr.trim()).await?;
    tracing::info!(local = %listener.local_addr()?, "metrics listening");
    let app = Router::new().route(PATH, get(scrape));
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::warn!(error = %err, "metrics listener stopped");
        }
    });
    Ok(())
}

// ---- Instrumentation, one call per site ----

tokio::task_local! {
    static FORMAT: Cell<&'static str>;
}

/// Middleware on the webhook route: counts each delivery by format and outcome and
/// times it until its answer.
pub async fn track_webhook(request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let started = Instant::now();
    let (response, format) = FORMAT
        .scope(Cell::new("unparsed"), async {
            let response = next.run(request).await;
            (response, FORMAT.with(Cell::get))
        })
        .await;
    let outcome = match response.status().as_u16() {
        200..=299 => "stored",
        400 => "malformed",
        401 => "unauthorized",
        404 => "unknown_number",
        413 => "too_large",
        415 => "not_json",
        503 => "unavailable",
        _ => "error",
    };
    metrics::counter!("leadline_webhook_deliveries_total", "format" => format, "outcome" => outcome).increment(1);
    metrics::histogram!("leadline_webhook_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Called by the webhook once the delivery's format is known.
pub fn delivery_format(format: &'static str) {
    let _ = FORMAT.try_with(|f| f.set(format));
}

/// Called by the SQLite writer after each group commit.
pub fn group_committed(size: usize, failed: usize, still_queued: usize) {
    metrics::histogram!("leadline_commit_group_size").record(size as f64);
    metrics::gauge!("leadline_writer_queue_depth").set(still_queued as f64);
    if failed > 0 {
        metrics::counter!("leadline_database_errors_total", "kind" => "ingest").increment(failed as u64);
    }
}

/// Called wherever a database error becomes an application error.
pub fn database_error(unavailable: bool) {
    let kind = if unavailable { "unavailable" } else { "query" };
    metrics::counter!("leadline_database_errors_total", "kind" => kind).increment(1);
}

pub fn sign_in_failed() {
    metrics::counter!("leadline_sign_in_failures_total").increment(1);
}

/// Wraps an SSE stream so the open-streams gauge counts it until it is dropped.
pub fn counted_stream<S: futures::Stream>(stream: S) -> impl futures::Stream<Item = S::Item> {
    let guard = OpenStream::new();
    futures::StreamExt::map(stream, move |item| {
        let _ = &guard;
        item
    })
}

struct OpenStream;

impl OpenStream {
    fn new() -> OpenStream {
        metrics::gauge!("leadline_sse_streams_open").increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("leadline_sse_streams_open").decrement(1.0);
    }
}
