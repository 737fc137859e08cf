//! Settings from the environment, named as Leptos apps name them: `LEPTOS_SITE_ADDR`
//! (default 127.0.0.1:3000), `LEPTOS_SITE_ROOT` (default target/site),
//! `LEPTOS_OUTPUT_NAME` (default leadline), plus `DATABASE_URL` (see `cli.rs`) and
//! `PUBLIC_URL`, the address Kapso reaches this server at (shown in the webhook
//! instructions).

use leptos::config::LeptosOptions;
use std::net::SocketAddr;

/// The name of the wasm/JS/CSS bundle under `/pkg`.
pub const OUTPUT_NAME: &str = "leadline";
pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn leptos_options() -> Result<LeptosOptions, String> {
    let site_addr: SocketAddr = env_or("LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR)
        .parse()
        .map_err(|e| format!("LEPTOS_SITE_ADDR must be host:port, e.g. 127.0.0.1:3000 ({e})"))?;
    Ok(LeptosOptions::builder()
        .output_name(env_or("LEPTOS_OUTPUT_NAME", OUTPUT_NAME))
        .site_root(env_or("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(env_or("LEPTOS_SITE_PKG_DIR", "pkg"))
        .site_addr(site_addr)
        .build())
}

/// `PUBLIC_URL` without a trailing slash, else `http://` + the listen address.
pub fn public_base_url() -> String {
    match std::env::var("PUBLIC_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
        _ => format!("http://{}", env_or("LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR)),
    }
}
