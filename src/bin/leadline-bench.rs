//! Load generator for the webhook: signed Kapso v2 deliveries at a running leadline,
//! over keep-alive HTTP/1.1 connections. Closed loop by default (each connection sends
//! its next delivery when the previous is answered: measures peak throughput); with
//! `--rate`, open loop at a fixed rate with latency measured from each delivery's
//! scheduled time, so a stalled server cannot hide its queueing delay.
//!
//! With `--sse-streams N --sse-cookie …` it first opens N live streams (`GET /api/live`)
//! and reads them throughout; `--sse-measure K` of them time every event from the
//! sending of the delivery that made it. With `--server-pid` it reports the server's CPU
//! time per delivery (utime + stime from /proc/<pid>/stat over the sending phase).
//!
//! `scripts/bench` starts a server on a fresh SQLite database and runs this;
//! `scripts/bench-live` measures what open live streams cost.

use axum::body::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1, Request};
use hyper_util::rt::TokioIo;
use leadline::server::webhook::signature::sign;
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
struct Args {
    /// host:port of the server
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// The workspace's webhook secret.
    #[arg(long)]
    secret: String,
    #[arg(long, default_value = "123456789012345")]
    phone_number_id: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Messages per delivery: 1 sends single deliveries, more sends Kapso batches.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Deliveries per second in total (open loop); closed loop when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// How many distinct customers the messages come from.
    #[arg(long, default_value_t = 20_000)]
    customers: u64,
    /// Stop after this many deliveries in total (for seeding), whatever `--seconds` says.
    #[arg(long)]
    deliveries: Option<u64>,
    /// Customer of delivery n is n modulo --customers (each customer gets the same share),
    /// instead of a pseudo-random pick.
    #[arg(long)]
    sequential_customers: bool,
    /// Spread a batch's messages over many customers. By default a batch holds one
    /// customer's messages, as Kapso's buffering batches per conversation.
    #[arg(long)]
    mixed_batches: bool,
    /// Name each customer by phone and business-scoped user id (2026 deliveries), so
    /// identity matching does its full work; by phone only otherwise.
    #[arg(long)]
    with_bsuid: bool,
    /// Prefix of message ids, so runs against one database never repeat ids.
    #[arg(long, default_value = "bench")]
    run: String,
    /// Number of the first message, so consecutive runs continue one sequence of
    /// (pseudo-random) customers instead of repeating it.
    #[arg(long, default_value_t = 0)]
    message_base: u64,
    /// First customer number, so a run can make new leads in a database used before.
    #[arg(long, default_value_t = 0)]
    customer_base: u64,
    /// Live streams (`GET /api/live`) to open before sending, and read until the end.
    #[arg(long, default_value_t = 0)]
    sse_streams: usize,
    /// The session cookie the streams use (`leadline_session=…`).
    #[arg(long)]
    sse_cookie: Option<String>,
    /// How many of the streams time each `lead` event, from the sending of the delivery
    /// that made that lead. Needs one new lead per delivery: `--sequential-customers`
    /// with `--customers` above the number of deliveries.
    #[arg(long, default_value_t = 0)]
    sse_measure: usize,
    /// The server's process id: report its CPU time per delivery.
    #[arg(long)]
    server_pid: Option<u32>,
    /// PostgreSQL's postmaster: report the CPU time of its whole process tree (the
    /// backends serving the server included) per delivery.
    #[arg(long)]
    db_pid: Option<u32>,
    /// Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

struct Totals {
    latencies_us: Vec<u64>,
    deliveries: u64,
    errors: u64,
}

static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(0);
static NEXT_DELIVERY: AtomicU64 = AtomicU64::new(0);
/// When the delivery that made each lead was sent (with `--sse-measure`).
static SENT_AT: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// The next delivery's body, or `None` once `--deliveries` have been sent.
fn delivery_body(args: &Args) -> Option<Vec<u8>> {
    let delivery = NEXT_DELIVERY.fetch_add(1, Ordering::Relaxed);
    if args.deliveries.is_some_and(|limit| delivery >= limit) {
        return None;
    }
    let first = NEXT_MESSAGE.fetch_add(args.batch as u64, Ordering::Relaxed);
    let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let item = |n: u64| {
        let spread = if args.mixed_batches { n } else { first };
        let customer = args.customer_base
            + if args.sequential_customers {
                delivery % args.customers
            } else {
                spread.wrapping_mul(2654435761) % args.customers
            };
        let phone = format!("+62812{:07}", 1_000_000 + customer);
        let bsuid = args.with_bsuid.then(|| format!("ID.{:020}", 77_000_000 + customer));
        let mut item = json!({
            "message": {
                "id": format!("wamid.{}.{n}", args.run),
                // Written now: the customers are within WhatsApp's 24-hour window, so the
                // reply benchmark can answer them.
                "timestamp": now_secs.to_string(),
                "type": "text",
                "text": { "body": "Halo kak, apakah produk ini masih tersedia? Saya mau pesan dua." },
                "kapso": { "direction": "inbound", "status": "received", "has_media": false,
                           "content": "Halo kak, apakah produk ini masih tersedia? Saya mau pesan dua." }
            },
            "conversation": {
                "id": format!("conv-{customer}"),
                "phone_number": phone,
                "status": "active",
                "phone_number_id": args.phone_number_id,
                "kapso": { "contact_name": format!("Pelanggan {customer}") }
            },
            "is_new_conversation": false,
            "phone_number_id": args.phone_number_id
        });
        if let Some(bsuid) = bsuid {
            item["conversation"]["business_scoped_user_id"] = json!(bsuid);
            item["message"]["from_user_id"] = json!(bsuid);
        }
        item
    };
    let body = if args.batch == 1 {
        item(first)
    } else {
        json!({
            "type": "whatsapp.message.received",
            "batch": true,
            "data": (first..first + args.batch as u64).map(item).collect::<Vec<_>>(),
            "batch_info": { "size": args.batch, "window_ms": 5000 }
        })
    };
    Some(serde_json::to_vec(&body).expect("JSON"))
}

async fn connection(args: Arc<Args>, deadline: Instant, schedule: Option<(Instant, Duration)>) -> Totals {
    let mut totals = Totals { latencies_us: Vec::with_capacity(100_000), deliveries: 0, errors: 0 };
    let stream = tokio::net::TcpStream::connect(&args.addr).await.expect("connect to the server");
    stream.set_nodelay(true).ok();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
    tokio::spawn(conn);
    let mut next_at = schedule.map(|(start, _)| start);
    loop {
        let started = match (next_at, schedule) {
            (Some(at), Some((_, interval))) => {
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                next_at = Some(at + interval);
                at
            }
            _ => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        let Some(body) = delivery_body(&args) else { break };
        let request = Request::post("/api/webhook/kapso")
            .header("host", &args.addr)
            .header("content-type", "application/json")
            .header("x-webhook-event", "whatsapp.message.received")
            .header("x-webhook-signature", sign(&args.secret, &body))
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        if sender.ready().await.is_err() {
            totals.errors += 1;
            break;
        }
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                totals.latencies_us.push(started.elapsed().as_micros() as u64);
                if ok && args.sse_measure > 0 {
                    let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let mut sent = SENT_AT.lock().unwrap();
                    for item in report["results"].as_array().into_iter().flatten() {
                        if let Some(lead) = item["lead_id"].as_str() {
                            sent.get_or_insert_with(HashMap::new).entry(lead.to_string()).or_insert(started);
                        }
                    }
                }
                if ok {
                    totals.deliveries += 1;
                } else {
                    totals.errors += 1;
                }
            }
            Err(_) => {
                totals.errors += 1;
                break;
            }
        }
    }
    totals
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

/// What one live stream saw.
#[derive(Default)]
struct StreamTotals {
    /// (lead id, when its event arrived), for measuring streams.
    arrivals: Vec<(String, Instant)>,
    events: u64,
    refused: bool,
}

/// Opens one live stream and reads it until `stop`; `ready` once the server answered.
async fn live_stream(
    args: Arc<Args>,
    measure: bool,
    ready: tokio::sync::oneshot::Sender<bool>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> StreamTotals {
    let mut totals = StreamTotals::default();
    let stream = tokio::net::TcpStream::connect(&args.addr).await.expect("connect to the server");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
    tokio::spawn(conn);
    let request = Request::get("/api/live")
        .header("host", &args.addr)
        .header("accept", "text/event-stream")
        .header("cookie", args.sse_cookie.as_deref().expect("--sse-cookie"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = match sender.send_request(request).await {
        Ok(response) if response.status().is_success() => response,
        _ => {
            totals.refused = true;
            let _ = ready.send(false);
            return totals;
        }
    };
    let _ = ready.send(true);
    let mut body = response.into_body();
    let mut stop = stop;
    let mut pending = String::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = stop.changed() => break,
        };
        let Some(Ok(frame)) = frame else { break };
        let Some(data) = frame.data_ref() else { continue };
        let arrived = Instant::now();
        if !measure {
            totals.events += data.windows(11).filter(|w| w == b"event: lead").count() as u64;
            continue;
        }
        pending.push_str(&String::from_utf8_lossy(data));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let (true, Some(data)) = (event.starts_with("event: lead"), event.split("data: ").nth(1)) {
                if let Ok(lead) = serde_json::from_str::<leadline::model::LeadEvent>(data.trim()) {
                    totals.events += 1;
                    totals.arrivals.push((lead.lead_id, arrived));
                }
            }
        }
    }
    totals
}

/// The fields of /proc/<pid>/stat from field 3 on (after the command name), if the
/// process still exists.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect())
}

/// The process's user + system CPU time in microseconds.
fn cpu_us(pid: u32, clk_tck: u64) -> u64 {
    let fields = stat_fields(pid).expect("read /proc/<pid>/stat");
    // Fields 14 and 15 of stat(5) (utime, stime); `fields` starts at field 4.
    (fields[10] + fields[11]) * 1_000_000 / clk_tck
}

/// CPU time of a process and all its children, living (utime + stime of each) and
/// exited (the parent's cutime + cstime): PostgreSQL's postmaster and its backends.
fn tree_cpu_us(pid: u32, clk_tck: u64) -> u64 {
    let own = stat_fields(pid).expect("read /proc/<pid>/stat");
    let mut ticks = own[10] + own[11] + own[12] + own[13];
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(fields) = stat_fields(child).filter(|f| f[0] == pid as u64) {
            ticks += fields[10] + fields[11];
        }
    }
    ticks * 1_000_000 / clk_tck
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    NEXT_MESSAGE.store(args.message_base, Ordering::Relaxed);
    let (stop_streams, stop) = tokio::sync::watch::channel(false);
    let mut streams = Vec::new();
    let mut refused_streams = 0;
    for chunk in (0..args.sse_streams).collect::<Vec<_>>().chunks(100) {
        let mut waiting = Vec::new();
        for &i in chunk {
            let (ready, answered) = tokio::sync::oneshot::channel();
            streams.push(tokio::spawn(live_stream(args.clone(), i < args.sse_measure, ready, stop.clone())));
            waiting.push(answered);
        }
        for answered in waiting {
            if !answered.await.unwrap_or(false) {
                refused_streams += 1;
            }
        }
    }
    // Let the server settle after opening the streams.
    if args.sse_streams > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu_before = args.server_pid.map(|pid| cpu_us(pid, args.clk_tck));
    let db_cpu_before = args.db_pid.map(|pid| tree_cpu_us(pid, args.clk_tck));
    let start = Instant::now() + Duration::from_millis(50);
    let seconds = if args.deliveries.is_some() { 86_400.0 } else { args.seconds };
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|i| {
            let schedule = args.rate.map(|rate| {
                let interval = Duration::from_secs_f64(args.connections as f64 / rate);
                // Connections start evenly staggered across one interval.
                (start + interval.mul_f64(i as f64 / args.connections as f64), interval)
            });
            tokio::spawn(connection(args.clone(), deadline, schedule))
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut deliveries, mut errors) = (0u64, 0u64);
    for task in tasks {
        let totals = task.await.expect("connection task");
        latencies.extend(totals.latencies_us);
        deliveries += totals.deliveries;
        errors += totals.errors;
    }
    let elapsed = start.elapsed().as_secs_f64().max(0.001);
    let cpu_per_delivery_us = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) if deliveries > 0 => {
            Some(((cpu_us(pid, args.clk_tck) - before) as f64 / deliveries as f64).round())
        }
        _ => None,
    };
    let db_cpu_per_delivery_us = match (args.db_pid, db_cpu_before) {
        (Some(pid), Some(before)) if deliveries > 0 => {
            Some((tree_cpu_us(pid, args.clk_tck).saturating_sub(before) as f64 / deliveries as f64).round())
        }
        _ => None,
    };
    latencies.sort_unstable();
    // Give the last events time to arrive, then close the streams.
    if args.sse_streams > 0 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    let _ = stop_streams.send(true);
    let sent = SENT_AT.lock().unwrap().take().unwrap_or_default();
    let (mut event_latencies, mut stream_events, mut unmatched) = (Vec::new(), 0u64, 0u64);
    for stream in streams {
        let totals = stream.await.expect("stream task");
        stream_events += totals.events;
        for (lead, arrived) in totals.arrivals {
            match sent.get(&lead) {
                Some(sent_at) => event_latencies.push(arrived.saturating_duration_since(*sent_at).as_micros() as u64),
                None => unmatched += 1,
            }
        }
    }
    event_latencies.sort_unstable();
    let report = json!({
        "run": args.run,
        "mode": if args.rate.is_some() { "open-loop" } else { "closed-loop" },
        "target_rate": args.rate,
        "messages_per_delivery": args.batch,
        "customers_per_batch": if args.batch > 1 && !args.mixed_batches { 1 } else { args.batch },
        "connections": args.connections,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "deliveries_ok": deliveries,
        "errors": errors,
        "deliveries_per_s": (deliveries as f64 / elapsed).round(),
        "messages_per_s": (deliveries as f64 * args.batch as f64 / elapsed).round(),
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": percentile(&latencies, 100.0),
        },
        "server_cpu_us_per_delivery": cpu_per_delivery_us,
        "postgres_cpu_us_per_delivery": db_cpu_per_delivery_us,
        "sse_streams": args.sse_streams,
        "sse_refused": refused_streams,
        "sse_lead_events": stream_events,
        "event_latency_ms": (args.sse_measure > 0).then(|| json!({
            "streams_measured": args.sse_measure.min(args.sse_streams),
            "events": event_latencies.len(),
            "unmatched": unmatched,
            "p50": percentile(&event_latencies, 50.0),
            "p95": percentile(&event_latencies, 95.0),
            "p99": percentile(&event_latencies, 99.0),
            "max": percentile(&event_latencies, 100.0),
        })),
    });
    println!("{report}");
}
