//! Answering from leadline: replies go out through Kapso's send API via an outbox that
//! loses nothing and never sends twice.
//!
//! The rules:
//! 1. **Commit, then send.** A reply is a `messages` row (outbound, status `queued`, a
//!    placeholder id until Kapso names the wamid) and an `outbox` row written in one
//!    transaction (`store::enqueue`); the page shows it at once. Only then does a sender
//!    post it.
//! 2. **One sender per reply.** A sender *claims* due rows (`queued` → `sending`, committed
//!    before the request leaves; `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas never
//!    claim the same row) and records what Kapso answered: the wamid (`sent`), a refusal
//!    (`failed`, 4xx: never retried; 401/403 also flags the key in Settings), or a
//!    transient failure (5xx, 429, timeout, no connection: `queued` again after an
//!    exponential backoff, `failed` after the last attempt). Redirects are not followed:
//!    the API key must never reach another host.
//! 3. **Unknown is not retried.** A claim that outlives its lease (the process died
//!    between sending and recording the answer) becomes `unknown`: the message may have
//!    reached the customer, so only a person may send it again (Retry). A row still
//!    `queued` when the process died was never sent, and is sent after the restart.
//! 4. **The webhook completes the picture.** Kapso reports our sends back as outbound
//!    messages and statuses; they match our row by wamid (a copy that arrived before we
//!    recorded the wamid is folded into our row), and move its ticks forward only.
//! 5. **The 24-hour window.** Free text is refused once 24 h have passed since the
//!    customer's latest message; approved templates may still be sent.
//! 6. **Needs reply.** `leads.awaiting_reply_since` is the oldest inbound message not yet
//!    answered; any outbound message (ours, or sent from elsewhere) newer than it clears it.

pub mod kapso;
pub mod sender;
pub mod store;
pub mod web;

use std::time::Duration;

/// WhatsApp's customer-service window after a customer's message.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Longest text WhatsApp accepts in one text message.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Where and how fast the senders post. From the environment (`ReplyConfig::from_env`);
/// tests build their own.
#[derive(Clone, Debug)]
pub struct ReplyConfig {
    /// `KAPSO_API_BASE`: Kapso's API, e.g. `https://api.kapso.ai`.
    pub api_base: String,
    /// `KAPSO_SEND_RATE`: replies per second per workspace (and per process).
    pub rate_per_second: f64,
    /// `KAPSO_SEND_TIMEOUT_MS`: one request's time limit.
    pub timeout: Duration,
    /// `KAPSO_SEND_ATTEMPTS`: attempts before a transient failure becomes `failed`.
    pub max_attempts: i64,
    /// `KAPSO_RETRY_BASE_MS`: first backoff; it doubles with each attempt (capped at 5 min).
    pub retry_base: Duration,
    /// `LEADLINE_SENDER=off` keeps this process from sending (another replica sends).
    pub enabled: bool,
}

impl Default for ReplyConfig {
    fn default() -> Self {
        ReplyConfig {
            api_base: "https://api.kapso.ai".into(),
            rate_per_second: 10.0,
            timeout: Duration::from_secs(20),
            max_attempts: 6,
            retry_base: Duration::from_secs(2),
            enabled: true,
        }
    }
}

impl ReplyConfig {
    pub fn from_env() -> Result<ReplyConfig, String> {
        let mut config = ReplyConfig::default();
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(base) = var("KAPSO_API_BASE") {
            let parsed = url::Url::parse(&base).map_err(|_| format!("KAPSO_API_BASE is not a URL: {base}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("KAPSO_API_BASE must be http(s): {base}"));
            }
            config.api_base = base.trim_end_matches('/').to_string();
        }
        if let Some(rate) = var("KAPSO_SEND_RATE") {
            config.rate_per_second =
                rate.parse::<f64>().ok().filter(|r| *r > 0.0 && *r <= 1000.0).ok_or_else(|| {
                    format!("KAPSO_SEND_RATE must be a number of replies per second (0–1000): {rate}")
                })?;
        }
        if let Some(ms) = var("KAPSO_SEND_TIMEOUT_MS") {
            let ms: u64 =
                ms.parse().ok().filter(|ms| (100..=120_000).contains(ms)).ok_or_else(|| {
                    format!("KAPSO_SEND_TIMEOUT_MS must be milliseconds between 100 and 120000: {ms}")
                })?;
            config.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = var("KAPSO_SEND_ATTEMPTS") {
            config.max_attempts = n
                .parse()
                .ok()
                .filter(|n| (1..=20).contains(n))
                .ok_or_else(|| format!("KAPSO_SEND_ATTEMPTS must be between 1 and 20: {n}"))?;
        }
        if let Some(ms) = var("KAPSO_RETRY_BASE_MS") {
            let ms: u64 = ms.parse().map_err(|_| format!("KAPSO_RETRY_BASE_MS must be milliseconds: {ms}"))?;
            config.retry_base = Duration::from_millis(ms.clamp(10, 600_000));
        }
        if let Some(flag) = var("LEADLINE_SENDER") {
            config.enabled = !matches!(flag.as_str(), "off" | "0" | "false");
        }
        Ok(config)
    }

    /// How long a claim may stay `sending` before it counts as interrupted: well past
    /// one request's time limit, so a slow answer is never mistaken for a crash.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(10)
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: i64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.clamp(1, 20) as u32 - 1);
        self.retry_base.saturating_mul(factor).min(Duration::from_secs(300))
    }
}

/// WhatsApp's customer-service window as of `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The customer never wrote: only templates.
    NeverOpened,
    /// Free text allowed until this time (UTC ms).
    OpenUntil(i64),
    /// Closed at this time: only templates.
    ClosedAt(i64),
}

impl Window {
    pub fn at(last_inbound_at: Option<i64>, now: i64) -> Window {
        match last_inbound_at {
            None => Window::NeverOpened,
            Some(at) if at + WINDOW_MS > now => Window::OpenUntil(at + WINDOW_MS),
            Some(at) => Window::ClosedAt(at + WINDOW_MS),
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Window::OpenUntil(_))
    }

    pub fn closes_at(self) -> Option<i64> {
        match self {
            Window::OpenUntil(at) | Window::ClosedAt(at) => Some(at),
            Window::NeverOpened => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_closes_24_hours_after_the_customers_latest_message() {
        let hour = 3600 * 1000;
        assert_eq!(Window::at(None, 5), Window::NeverOpened);
        assert_eq!(Window::at(Some(0), 23 * hour), Window::OpenUntil(24 * hour));
        assert!(Window::at(Some(0), 24 * hour - 1).is_open());
        assert_eq!(Window::at(Some(0), 24 * hour), Window::ClosedAt(24 * hour));
        assert!(!Window::at(Some(0), 30 * hour).is_open());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = ReplyConfig { retry_base: Duration::from_secs(2), ..ReplyConfig::default() };
        assert_eq!(config.backoff(1), Duration::from_secs(2));
        assert_eq!(config.backoff(2), Duration::from_secs(4));
        assert_eq!(config.backoff(4), Duration::from_secs(16));
        assert_eq!(config.backoff(20), Duration::from_secs(300));
    }
}
