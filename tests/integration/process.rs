//! The `leadline` binary run as an operator or a deployment runs it: one-off commands
//! (`leadline backup`, `deliveries replay`, …) and `leadline serve` processes.

use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn leadline(database_url: &str, args: &[&str]) -> (bool, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the leadline binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), serde_json::from_str(&stdout).unwrap_or(Value::Null), stderr)
}

pub async fn leadline_async(database_url: &str, args: &[&str]) -> (bool, Value, String) {
    let url = database_url.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        leadline(&url, &args)
    })
    .await
    .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `leadline serve` process, killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `leadline serve` on a free port with `env` added, and waits until it is ready.
pub async fn start_server(database_url: &str, env: &[(&str, String)]) -> Server {
    start_server_logging(database_url, env, Stdio::inherit()).await
}

/// [`start_server`], its log (stderr) going to `log`.
pub async fn start_server_logging(database_url: &str, env: &[(&str, String)], log: Stdio) -> Server {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log);
    for (key, value) in env {
        command.env(key, value);
    }
    let server =
        Server { child: command.spawn().expect("start leadline serve"), base_url: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{}/readyz", server.base_url)).send().await {
            if r.status() == StatusCode::OK {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("leadline serve did not become ready");
}
