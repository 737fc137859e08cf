//! Load generator for the webhook: signed Kapso v2 deliveries at a running leadline,
//! over keep-alive HTTP/1.1 connections. Closed loop by default (each connection sends
//! its next delivery when the previous is answered: measures peak throughput); with
//! `--rate`, open loop at a fixed rate with latency measured from each delivery's
//! scheduled time, so a stalled server cannot hide its queueing delay.
//!
//! `scripts/bench` starts a server on a fresh SQLite database and runs this.

use axum::body::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1, Request};
use hyper_util::rt::TokioIo;
use leadline::server::webhook::signature::sign;
use serde_json::json;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
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
}

struct Totals {
    latencies_us: Vec<u64>,
    deliveries: u64,
    errors: u64,
}

static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(0);
static NEXT_DELIVERY: AtomicU64 = AtomicU64::new(0);

/// The next delivery's body, or `None` once `--deliveries` have been sent.
fn delivery_body(args: &Args) -> Option<Vec<u8>> {
    let delivery = NEXT_DELIVERY.fetch_add(1, Ordering::Relaxed);
    if args.deliveries.is_some_and(|limit| delivery >= limit) {
        return None;
    }
    let first = NEXT_MESSAGE.fetch_add(args.batch as u64, Ordering::Relaxed);
    let item = |n: u64| {
        let spread = if args.mixed_batches { n } else { first };
        let customer = if args.sequential_customers {
            delivery % args.customers
        } else {
            spread.wrapping_mul(2654435761) % args.customers
        };
        let phone = format!("+62812{:07}", 1_000_000 + customer);
        let bsuid = args.with_bsuid.then(|| format!("ID.{:020}", 77_000_000 + customer));
        let mut item = json!({
            "message": {
                "id": format!("wamid.{}.{n}", args.run),
                "timestamp": "1767243600",
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
                let _ = response.into_body().collect().await;
                totals.latencies_us.push(started.elapsed().as_micros() as u64);
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

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
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
    latencies.sort_unstable();
    let report = json!({
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
    });
    println!("{report}");
}
