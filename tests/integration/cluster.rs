//! Fault tests of the multi-replica deployment (`deploy/`, `scripts/cluster`): replicas
//! of the real binary behind HAProxy on one PostgreSQL of their own, driven the way Kapso
//! drives a webhook — signed deliveries, the same body sent again after any non-2xx answer
//! or broken connection — while a replica is killed or PostgreSQL restarts.
//!
//! What must hold: every acknowledged message is stored exactly once, each customer is one
//! lead, the surviving replicas keep answering, a database outage is answered 503 with
//! `Retry-After` and leadline recovers from it without being restarted.
//! Needs `haproxy` (scripts/test installs it) and PostgreSQL's binaries.

use crate::support::{v2_text, PHONE_NUMBER_ID};
use leadline::server::webhook::signature::sign;
use sqlx::{Connection, Row};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

const CUSTOMERS: u64 = 300;
const SENDERS: usize = 8;

/// One cluster started by `scripts/cluster up`, stopped (and its directory removed) on drop.
struct Cluster {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Cluster {
    fn up(replicas: usize, tls: bool) -> Cluster {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::temp_dir().join(format!(
            "leadline-cluster-{}-{}",
            std::process::id(),
            leadline::server::secrets::random_hex(4)
        ));
        let mut cluster = Cluster { dir, env: HashMap::new() };
        let replicas = replicas.to_string();
        let mut args = vec!["up", "--replicas", &replicas];
        if tls {
            args.push("--tls");
        }
        let output = cluster
            .command(&args)
            .env("LEADLINE_BIN", env!("CARGO_BIN_EXE_leadline"))
            .env("LEPTOS_SITE_ROOT", root.join("target/site"))
            .output()
            .expect("run scripts/cluster up");
        assert!(output.status.success(), "scripts/cluster up failed:\n{}", String::from_utf8_lossy(&output.stderr));
        let text = std::fs::read_to_string(cluster.dir.join("cluster.env")).expect("cluster.env");
        cluster.env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.trim_matches('\'').to_string()))
            .collect();
        cluster
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster"));
        command.args(args).arg("--dir").arg(&self.dir).stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("run scripts/cluster");
        assert!(
            output.status.success(),
            "scripts/cluster {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `replica-1 → alive`, …, `haproxy`, `postgres`.
    fn status(&self) -> HashMap<String, String> {
        self.run(&["status"])
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                Some((words.first()?.to_string(), words.last()?.to_string()))
            })
            .collect()
    }

    /// The replicas' process ids, as `scripts/cluster` recorded them.
    fn pids(&self) -> Vec<String> {
        (1..).map_while(|k| std::fs::read_to_string(self.dir.join(format!("replica-{k}.pid"))).ok()).collect()
    }

    fn var(&self, key: &str) -> &str {
        self.env.get(key).unwrap_or_else(|| panic!("cluster.env has no {key}"))
    }

    /// Every stored message of the run: (message id → how many rows), and the number of leads.
    async fn stored(&self, run: &str) -> (HashMap<String, i64>, i64) {
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(self.var("DATABASE_URL")).await.unwrap();
        let rows = sqlx::query(
            "SELECT kapso_message_id, COUNT(*) AS n FROM messages WHERE kapso_message_id LIKE $1 \
             GROUP BY kapso_message_id",
        )
        .bind(format!("wamid.{run}.%"))
        .fetch_all(&mut db)
        .await
        .unwrap();
        let messages = rows.iter().map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1))).collect();
        let leads: i64 = sqlx::query("SELECT COUNT(*) FROM leads").fetch_one(&mut db).await.unwrap().get(0);
        (messages, leads)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command(&["down"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// What the senders saw.
#[derive(Default)]
struct Seen {
    /// (message id, customer phone, when it was acknowledged).
    acked: Vec<(String, String, Instant)>,
    /// (status, whether it carried Retry-After) of every non-2xx answer.
    refusals: Vec<(u16, bool)>,
    /// Connections that broke before an answer.
    broken: usize,
}

/// Every delivery body sent, in order.
type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

/// Sends deliveries like Kapso through HAProxy until `stop`, each retried until
/// acknowledged (within `patience`); returns what was seen and the bodies sent.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    sent: Sent,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(cluster: &Cluster, run: &str, patience: Duration) -> Load {
        let url = format!("{}/api/webhook/kapso", cluster.var("HAPROXY_URL"));
        let secret = cluster.var("WEBHOOK_SECRET").to_string();
        assert_eq!(cluster.var("PHONE_NUMBER_ID"), PHONE_NUMBER_ID);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let sent: Sent = Arc::default();
        let next = Arc::new(AtomicU64::new(0));
        let workers = (0..SENDERS)
            .map(|_| {
                let (http, url, secret, run) = (http.clone(), url.clone(), secret.clone(), run.to_string());
                let (stop, seen, sent, next) = (stop.clone(), seen.clone(), sent.clone(), next.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let wamid = format!("wamid.{run}.{n}");
                        let phone = format!("+62812{:07}", n % CUSTOMERS);
                        let body = v2_text(&wamid, &phone, &format!("conv-{}", n % CUSTOMERS), None, "halo");
                        let raw = serde_json::to_vec(&body).unwrap();
                        sent.lock().unwrap().push(raw.clone());
                        let given_up = Instant::now() + patience;
                        loop {
                            assert!(Instant::now() < given_up, "{wamid} never acknowledged");
                            match post(&http, &url, &secret, &raw).await {
                                Ok((status, _)) if (200..300).contains(&status) => {
                                    seen.lock().unwrap().acked.push((wamid, phone, Instant::now()));
                                    break;
                                }
                                Ok((status, retry_after)) => seen.lock().unwrap().refusals.push((status, retry_after)),
                                Err(()) => seen.lock().unwrap().broken += 1,
                            }
                            // Kapso waits longer (and honours Retry-After); the test is short.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                })
            })
            .collect();
        Load { stop, seen, sent, workers }
    }

    async fn finish(self) -> (Seen, Vec<Vec<u8>>) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("a sender failed");
        }
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        (seen, sent)
    }
}

/// One signed delivery: (status, has Retry-After), or Err when the connection broke.
async fn post(http: &reqwest::Client, url: &str, secret: &str, raw: &[u8]) -> Result<(u16, bool), ()> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-webhook-signature", sign(secret, raw))
        .header("x-webhook-payload-version", "v2")
        .header("x-webhook-event", "whatsapp.message.received")
        .body(raw.to_vec())
        .send()
        .await
        .map_err(|_| ())?;
    let retry_after = response.headers().contains_key(reqwest::header::RETRY_AFTER);
    Ok((response.status().as_u16(), retry_after))
}

/// Every acknowledged message stored exactly once and nothing else of the run stored;
/// one lead per customer.
async fn assert_exactly_once(cluster: &Cluster, run: &str, seen: &Seen, sent: usize) {
    let mut refusals: Vec<u16> = seen.refusals.iter().map(|(status, _)| *status).collect();
    refusals.sort_unstable();
    refusals.dedup();
    eprintln!(
        "{run}: {sent} deliveries, {} acknowledged, {} refusals (statuses {refusals:?}), {} broken connections",
        seen.acked.len(),
        seen.refusals.len(),
        seen.broken
    );
    assert_eq!(seen.acked.len(), sent, "every delivery sent was acknowledged in the end");
    let (stored, leads) = cluster.stored(run).await;
    let acked: HashSet<&str> = seen.acked.iter().map(|(wamid, _, _)| wamid.as_str()).collect();
    assert_eq!(acked.len(), seen.acked.len());
    for wamid in &acked {
        assert_eq!(stored.get(*wamid), Some(&1), "{wamid} acknowledged, so stored exactly once");
    }
    assert_eq!(stored.len(), acked.len(), "nothing stored that was not acknowledged");
    let customers: HashSet<&str> = seen.acked.iter().map(|(_, phone, _)| phone.as_str()).collect();
    assert_eq!(leads, customers.len() as i64, "one lead per customer, whichever replicas took their messages");
}

/// Kapso-style retries of deliveries already acknowledged: answered 2xx, stored nothing new.
async fn assert_retries_harmless(cluster: &Cluster, run: &str, sent: &[Vec<u8>]) {
    let (before, leads_before) = cluster.stored(run).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/webhook/kapso", cluster.var("HAPROXY_URL"));
    for raw in sent.iter().step_by((sent.len() / 40).max(1)) {
        let (status, _) = post(&http, &url, cluster.var("WEBHOOK_SECRET"), raw).await.expect("answered");
        assert!((200..300).contains(&status), "a retried delivery is acknowledged again, got {status}");
    }
    assert_eq!(cluster.stored(run).await, (before, leads_before), "retries stored nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_replicas_mid_load_loses_and_duplicates_nothing() {
    let cluster = Cluster::up(3, false);
    let load = Load::start(&cluster, "kill", Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    cluster.run(&["kill", "2"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (seen, sent) = load.finish().await;

    let status = cluster.status();
    assert_eq!(status["replica-2"], "dead");
    assert_eq!((status["replica-1"].as_str(), status["replica-3"].as_str()), ("alive", "alive"));
    let after_kill = seen.acked.iter().filter(|(_, _, at)| *at > killed_at + Duration::from_secs(1)).count();
    assert!(after_kill >= 20, "the other replicas kept answering after the kill: {after_kill} acknowledged");
    assert!(seen.acked.len() >= 100, "the load ran: {} acknowledged", seen.acked.len());
    assert_exactly_once(&cluster, "kill", &seen, sent.len()).await;
    assert_retries_harmless(&cluster, "kill", &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_postgresql_mid_load_answers_503_then_recovers_without_restarting_leadline() {
    // As a managed PostgreSQL would: unencrypted connections refused, the replicas use TLS.
    let cluster = Cluster::up(2, true);
    let url = cluster.var("DATABASE_URL");
    assert!(url.ends_with("?sslmode=require"), "{url}");
    let plain = url.replace("sslmode=require", "sslmode=disable");
    sqlx::any::install_default_drivers();
    assert!(sqlx::AnyConnection::connect(&plain).await.is_err(), "PostgreSQL refuses unencrypted connections");
    let pids_before = cluster.pids();
    let load = Load::start(&cluster, "pgrestart", Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restart = cluster.command(&["restart-postgres", "--down", "3"]);
    let restarted = tokio::task::spawn_blocking(move || {
        let mut restart = restart;
        restart.status().map(|status| status.success())
    })
    .await
    .unwrap();
    assert!(restarted.expect("run restart-postgres"), "PostgreSQL restarted");
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (seen, sent) = load.finish().await;

    assert!(!seen.refusals.is_empty(), "the load met the outage");
    for (status, retry_after) in &seen.refusals {
        assert_eq!(*status, 503, "while PostgreSQL is down the answer is 503, got {status}");
        assert!(*retry_after, "a 503 says when to retry (Retry-After)");
    }
    let status = cluster.status();
    for replica in ["replica-1", "replica-2"] {
        assert_eq!(status[replica], "alive", "{replica} kept running");
    }
    assert_eq!(cluster.pids(), pids_before, "no replica was restarted");
    let after = seen.acked.iter().filter(|(_, _, at)| *at > back_at + Duration::from_secs(3)).count();
    assert!(after >= 20, "deliveries are acknowledged again after the restart: {after}");
    assert_exactly_once(&cluster, "pgrestart", &seen, sent.len()).await;
    assert_retries_harmless(&cluster, "pgrestart", &sent).await;
}
