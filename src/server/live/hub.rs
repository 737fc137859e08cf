//! The fan-out. Why it is shaped this way:
//!
//! - **Keyed by workspace.** Each workspace with at least one open stream has its own
//!   broadcast channel (made by its first stream, dropped with its last). A change is
//!   handed to that channel only, so a delivery to a workspace nobody watches costs a
//!   map look-up, whatever the number of streams open on other workspaces.
//! - **Coalesced and serialized once.** Changes wait in an outbox for a short window
//!   (`LIVE_COALESCE_MS`, 50 ms); then each workspace's changes become *one* frame:
//!   one `lead` event per lead (the last position wins, `created` if any change created
//!   it), written to bytes once and shared by every stream of the workspace. A burst of
//!   changes wakes each stream once per window, not once per change.
//! - **Bounded.** Streams per session and per workspace are capped (`Refusal`); a stream
//!   that falls more than `channel_capacity` frames behind skips to the newest and gets
//!   one `resync`; a window with more leads than a page should fetch one by one becomes
//!   a `resync` too.
//! - **No per-stream timers.** One task flushes the outbox; one task ticks every 15 s
//!   through every channel (keep-alive comment, and streams past their lifetime end so
//!   the browser reconnects and its session is checked again).
//! - **No gap at the start.** A page shows data read at some moment and opens its
//!   stream a little later (after hydration). Changes in between would be missed, so
//!   the page says when its data was read (`since`, ms) and the hub, which remembers
//!   when each workspace last changed (`Recent`), starts the stream with a `resync` if
//!   it changed since then (or if it cannot tell: the hub is younger than the page, or
//!   the relay lost announcements). Clocks of replicas differ a little, so "since" is
//!   widened by `SINCE_MARGIN_MS`; a needless resync costs one reload, a missed one a
//!   stale page.
//! - **Ended on purpose.** Signing out or losing a membership sends an `End` through the
//!   same channels (and, on PostgreSQL, through the relay to every replica), so matching
//!   streams end at once.

use super::recent::{now_ms, Recent};
use super::relay::Relay;
use crate::model::LeadEvent;
use crate::server::ids::{UserId, WorkspaceId};
use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};
use tokio::{
    sync::{broadcast, Notify},
    time::Instant,
};

/// Limits and windows of the live fan-out.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Open streams one session may hold in this process (`LIVE_STREAMS_PER_SESSION`).
    pub streams_per_session: usize,
    /// Open streams one workspace may hold in this process (`LIVE_STREAMS_PER_WORKSPACE`).
    pub streams_per_workspace: usize,
    /// How long changes wait to be coalesced (`LIVE_COALESCE_MS`).
    pub coalesce_window: Duration,
    /// Frames a stream may fall behind before it skips ahead with a `resync`.
    pub channel_capacity: usize,
    /// Keep-alive period; also how often stream lifetimes are checked.
    pub tick: Duration,
    /// A stream ends after this long (the browser reconnects, and its session is checked again).
    pub stream_lifetime: Duration,
    /// More distinct leads than this in one window: the page gets one `resync` instead.
    pub max_events_per_frame: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            streams_per_session: 4,
            streams_per_workspace: 1_000,
            coalesce_window: Duration::from_millis(50),
            channel_capacity: 64,
            tick: Duration::from_secs(15),
            stream_lifetime: Duration::from_secs(30 * 60),
            max_events_per_frame: 200,
        }
    }
}

impl LiveConfig {
    /// The defaults, with `LIVE_STREAMS_PER_SESSION`, `LIVE_STREAMS_PER_WORKSPACE` and
    /// `LIVE_COALESCE_MS` from the environment when set.
    pub fn from_env() -> Result<LiveConfig, String> {
        fn read(name: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => match value.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(format!("{name} must be a whole number from {min} to {max}, not `{value}`")),
                },
                _ => Ok(None),
            }
        }
        let mut config = LiveConfig::default();
        if let Some(n) = read("LIVE_STREAMS_PER_SESSION", 1, 1_000_000)? {
            config.streams_per_session = n as usize;
        }
        if let Some(n) = read("LIVE_STREAMS_PER_WORKSPACE", 1, 1_000_000)? {
            config.streams_per_workspace = n as usize;
        }
        if let Some(n) = read("LIVE_COALESCE_MS", 0, 1_000)? {
            config.coalesce_window = Duration::from_millis(n);
        }
        Ok(config)
    }
}

/// One lead changed in a way an open Database or Inbox page should show.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeadChanged {
    pub workspace_id: String,
    pub lead_id: String,
    /// The lead did not exist before this change.
    pub created: bool,
}

/// Whose page a stream feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub workspace_id: String,
    pub user_id: String,
    /// SHA-256 (hex) of the session token, as `sessions.token_sha256`.
    pub session: String,
}

/// Which streams to end. Every field given must match; at least one is given.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Revocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl Revocation {
    fn matches(&self, viewer: &Viewer) -> bool {
        let given = [&self.workspace_id, &self.user_id, &self.session];
        given.iter().any(|field| field.is_some())
            && self.workspace_id.as_ref().is_none_or(|w| *w == viewer.workspace_id)
            && self.user_id.as_ref().is_none_or(|u| *u == viewer.user_id)
            && self.session.as_ref().is_none_or(|s| *s == viewer.session)
    }
}

/// Why a stream was not opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session already holds this many streams.
    SessionFull(usize),
    /// The workspace already holds this many streams.
    WorkspaceFull(usize),
    /// The session or membership ended while the request was being checked.
    Ended,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::SessionFull(n) => write!(
                f,
                "Live updates are paused on this tab: you already have {n} live pages open (the most allowed). \
                 Close one of them, or reload this page later."
            ),
            Refusal::WorkspaceFull(n) => write!(
                f,
                "Live updates are paused on this tab: this workspace already has {n} live pages open on this \
                 server (the most allowed). Reload later."
            ),
            Refusal::Ended => f.write_str("Your session ended. Sign in again."),
        }
    }
}

/// What travels through a workspace's channel.
#[derive(Clone, Debug)]
pub(super) enum Frame {
    /// Ready-to-send SSE bytes, shared by every stream of the workspace.
    Events(Bytes),
    /// Keep-alive and lifetime check.
    Tick(Instant),
    /// Streams matching this end now.
    End(Arc<Revocation>),
}

pub(super) const RESYNC: &[u8] = b"event: resync\ndata: {}\n\n";
const KEEP_ALIVE: &[u8] = b":\n\n";
const END: &[u8] = b"event: end\ndata: {}\n\n";
/// Sent first: how long the browser waits before reconnecting after a stream ends.
const PREAMBLE: &[u8] = b"retry: 2000\n\n";
const PREAMBLE_AND_RESYNC: &[u8] = b"retry: 2000\n\nevent: resync\ndata: {}\n\n";
/// How long an ended session or membership keeps streams that were being admitted from opening.
const REMEMBER_REVOCATIONS: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    config: LiveConfig,
    registry: Mutex<Registry>,
    outbox: Mutex<HashMap<String, Vec<(String, bool)>>>,
    recent: Mutex<Recent>,
    wake: Arc<Notify>,
    /// PostgreSQL: changes and revocations go through NOTIFY (and come back through the relay).
    relay: Option<Relay>,
}

#[derive(Default)]
struct Registry {
    workspaces: HashMap<String, Channel>,
    sessions: HashMap<String, usize>,
    revoked: Vec<(Instant, Revocation)>,
}

struct Channel {
    sender: broadcast::Sender<Frame>,
    streams: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (plain map updates).
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveHub {
    /// A hub for this process, configured from the environment; with PostgreSQL it also
    /// starts the relay that listens for every replica's announcements.
    pub async fn start(db: &crate::server::db::Db, database_url: Option<&str>) -> LiveHub {
        let config = LiveConfig::from_env().unwrap_or_else(|problem| {
            tracing::error!(%problem, "live update settings ignored; using the defaults");
            LiveConfig::default()
        });
        LiveHub::start_with(db, database_url, config).await
    }

    pub async fn start_with(db: &crate::server::db::Db, database_url: Option<&str>, config: LiveConfig) -> LiveHub {
        let listener = super::relay::listen(db, database_url).await;
        let relay = listener.as_ref().map(|_| Relay::new(db));
        let inner = Arc::new(Inner {
            config,
            registry: Mutex::default(),
            outbox: Mutex::default(),
            recent: Mutex::new(Recent::starting_now()),
            wake: Arc::new(Notify::new()),
            relay,
        });
        if let Some(listener) = listener {
            super::relay::spawn_relay(listener, Arc::downgrade(&inner));
        }
        spawn_flusher(Arc::downgrade(&inner), inner.wake.clone(), inner.config.coalesce_window);
        spawn_ticker(Arc::downgrade(&inner), inner.config.tick);
        LiveHub { inner }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// Announces one change (after it committed).
    pub fn publish(&self, change: LeadChanged) {
        self.publish_all(std::iter::once((change.workspace_id, change.lead_id, change.created)));
    }

    /// Announces every lead a committed delivery created or changed, and the leads it
    /// merged into others (their rows go: the page finds them merged).
    pub fn publish_delivery(&self, report: &crate::server::webhook::ingest::DeliveryReport) {
        use crate::server::webhook::ingest::Outcome;
        self.publish_all(report.results.iter().flat_map(|item| {
            let changed = matches!(item.outcome, Outcome::Created | Outcome::Updated) || !item.absorbed.is_empty();
            let (Some(workspace_id), Some(lead_id), true) = (&item.workspace_id, &item.lead_id, changed) else {
                return Vec::new();
            };
            let mut changes = Vec::with_capacity(1 + item.absorbed.len());
            for absorbed in &item.absorbed {
                changes.push((workspace_id.to_string(), absorbed.clone(), false));
            }
            changes.push((workspace_id.to_string(), lead_id.clone(), item.lead_created));
            changes
        }));
    }

    fn publish_all(&self, changes: impl Iterator<Item = (String, String, bool)>) {
        let inner = &self.inner;
        let mut changes = changes.peekable();
        if changes.peek().is_none() {
            return;
        }
        let changes: Vec<_> = changes.collect();
        if inner.relay.is_none() {
            // On PostgreSQL every replica (this one too) hears it through the relay.
            let at = now_ms();
            let mut recent = lock(&inner.recent);
            for (workspace_id, _, _) in &changes {
                recent.heard(workspace_id, at);
            }
        }
        // In one process, a workspace without an open stream costs nothing more. With
        // PostgreSQL other replicas may have viewers, so every change goes out.
        let changes: Vec<_> = if inner.relay.is_some() {
            changes
        } else {
            let registry = lock(&inner.registry);
            changes.into_iter().filter(|(workspace_id, _, _)| registry.workspaces.contains_key(workspace_id)).collect()
        };
        if changes.is_empty() {
            return;
        }
        let mut outbox = lock(&inner.outbox);
        let was_empty = outbox.is_empty();
        for (workspace_id, lead_id, created) in changes {
            outbox.entry(workspace_id).or_default().push((lead_id, created));
        }
        drop(outbox);
        if was_empty {
            inner.wake.notify_one();
        }
    }

    /// Opens a stream for `viewer`, whose session was checked starting at `checked_at`,
    /// for a page whose data was read at `since` (ms since the epoch, by a server's
    /// clock): the stream starts with a `resync` if the workspace may have changed since.
    pub fn open(&self, viewer: Viewer, checked_at: Instant, since: Option<i64>) -> Result<LiveStream, Refusal> {
        let inner = &self.inner;
        let config = &inner.config;
        let mut registry = lock(&inner.registry);
        let now = Instant::now();
        registry.revoked.retain(|(at, _)| now.duration_since(*at) < REMEMBER_REVOCATIONS);
        if registry.revoked.iter().any(|(at, revocation)| *at >= checked_at && revocation.matches(&viewer)) {
            return Err(Refusal::Ended);
        }
        if registry.sessions.get(&viewer.session).copied().unwrap_or(0) >= config.streams_per_session {
            return Err(Refusal::SessionFull(config.streams_per_session));
        }
        if registry.workspaces.get(&viewer.workspace_id).map_or(0, |c| c.streams) >= config.streams_per_workspace {
            return Err(Refusal::WorkspaceFull(config.streams_per_workspace));
        }
        *registry.sessions.entry(viewer.session.clone()).or_default() += 1;
        let channel = registry
            .workspaces
            .entry(viewer.workspace_id.clone())
            .or_insert_with(|| Channel { sender: broadcast::channel(config.channel_capacity.max(1)).0, streams: 0 });
        channel.streams += 1;
        let receiver = channel.sender.subscribe();
        drop(registry);
        // After subscribing: a change announced from now on reaches the stream anyway.
        let missed = since.is_some_and(|since| lock(&inner.recent).changed_since(&viewer.workspace_id, since));
        Ok(LiveStream {
            receiver,
            missed,
            ends_at: now + config.stream_lifetime,
            registration: Registration { hub: self.inner.clone(), viewer },
        })
    }

    /// Whether `viewer` could open a stream now; the reason if not.
    pub fn admission(&self, viewer: &Viewer) -> Option<Refusal> {
        let config = &self.inner.config;
        let registry = lock(&self.inner.registry);
        if registry.sessions.get(&viewer.session).copied().unwrap_or(0) >= config.streams_per_session {
            return Some(Refusal::SessionFull(config.streams_per_session));
        }
        if registry.workspaces.get(&viewer.workspace_id).map_or(0, |c| c.streams) >= config.streams_per_workspace {
            return Some(Refusal::WorkspaceFull(config.streams_per_workspace));
        }
        None
    }

    /// Open streams in this process (all workspaces).
    pub fn open_streams(&self) -> usize {
        lock(&self.inner.registry).workspaces.values().map(|c| c.streams).sum()
    }

    /// Workspaces with a channel in this process (each has at least one open stream).
    pub fn watched_workspaces(&self) -> usize {
        lock(&self.inner.registry).workspaces.len()
    }

    /// Ends the streams of one session (signed out), on every replica.
    pub fn end_streams_for_session(&self, session_sha256: &str) {
        self.revoke(Revocation { workspace_id: None, user_id: None, session: Some(session_sha256.to_string()) });
    }

    /// Ends every stream of a person, in every workspace, on every replica (e.g. all of
    /// their sessions were ended). Pages whose session is still valid reconnect.
    pub fn end_streams_for_user(&self, user_id: &UserId) {
        self.revoke(Revocation { workspace_id: None, user_id: Some(user_id.to_string()), session: None });
    }

    /// Ends a person's streams of one workspace (their membership was removed), on every replica.
    pub fn end_streams_for_member(&self, workspace_id: &WorkspaceId, user_id: &UserId) {
        self.revoke(Revocation {
            workspace_id: Some(workspace_id.to_string()),
            user_id: Some(user_id.to_string()),
            session: None,
        });
    }

    fn revoke(&self, revocation: Revocation) {
        // Here at once; the relay's copy (which arrives here too) finds them ended already.
        self.inner.end_local(&revocation);
        if let Some(relay) = &self.inner.relay {
            relay.announce_end(revocation);
        }
    }
}

impl Inner {
    pub(super) fn end_local(&self, revocation: &Revocation) {
        let frame = Frame::End(Arc::new(revocation.clone()));
        let mut registry = lock(&self.registry);
        registry.revoked.push((Instant::now(), revocation.clone()));
        match &revocation.workspace_id {
            Some(workspace_id) => {
                if let Some(channel) = registry.workspaces.get(workspace_id) {
                    let _ = channel.sender.send(frame);
                }
            }
            None => {
                for channel in registry.workspaces.values() {
                    let _ = channel.sender.send(frame.clone());
                }
            }
        }
    }

    /// Hands one workspace's changes (in the order they happened) to its streams here,
    /// if it has any: one frame, serialized once.
    pub(super) fn deliver_local(&self, workspace_id: &str, changes: Vec<(String, bool)>) {
        if self.relay.is_some() {
            lock(&self.recent).heard(workspace_id, now_ms());
        }
        let Some(sender) = lock(&self.registry).workspaces.get(workspace_id).map(|c| c.sender.clone()) else {
            return;
        };
        let events = coalesce(changes);
        let bytes =
            if events.len() > self.config.max_events_per_frame { Bytes::from_static(RESYNC) } else { encode(&events) };
        let _ = sender.send(Frame::Events(bytes));
    }

    /// Tells every stream here to resynchronise (announcements may have been missed).
    pub(super) fn resync_all(&self) {
        let mut recent = lock(&self.recent);
        recent.unknown_before = recent.unknown_before.max(now_ms());
        drop(recent);
        for channel in lock(&self.registry).workspaces.values() {
            let _ = channel.sender.send(Frame::Events(Bytes::from_static(RESYNC)));
        }
    }

    fn take_outbox(&self) -> HashMap<String, Vec<(String, bool)>> {
        std::mem::take(&mut *lock(&self.outbox))
    }
}

/// One event per lead: at the position of its last change, `created` if any change created it.
pub(super) fn coalesce(changes: Vec<(String, bool)>) -> Vec<LeadEvent> {
    if changes.len() == 1 {
        return changes.into_iter().map(|(lead_id, created)| LeadEvent { lead_id, created }).collect();
    }
    let mut created: HashMap<&str, bool> = HashMap::with_capacity(changes.len());
    for (lead_id, was_created) in &changes {
        *created.entry(lead_id.as_str()).or_default() |= *was_created;
    }
    let mut seen = HashSet::with_capacity(created.len());
    let mut events: Vec<LeadEvent> = changes
        .iter()
        .rev()
        .filter(|(lead_id, _)| seen.insert(lead_id.as_str()))
        .map(|(lead_id, _)| LeadEvent { lead_id: lead_id.clone(), created: created[lead_id.as_str()] })
        .collect();
    events.reverse();
    events
}

fn encode(events: &[LeadEvent]) -> Bytes {
    let mut out = Vec::with_capacity(events.len() * 80);
    for event in events {
        out.extend_from_slice(b"event: lead\ndata: ");
        serde_json::to_writer(&mut out, event).expect("a LeadEvent serializes");
        out.extend_from_slice(b"\n\n");
    }
    Bytes::from(out)
}

/// One task per hub: waits for the first change, lets the window fill, then sends.
fn spawn_flusher(hub: Weak<Inner>, wake: Arc<Notify>, window: Duration) {
    tokio::spawn(async move {
        loop {
            wake.notified().await;
            if !window.is_zero() {
                tokio::time::sleep(window).await;
            }
            let Some(inner) = hub.upgrade() else { return };
            let batch = inner.take_outbox();
            if batch.is_empty() {
                continue;
            }
            match &inner.relay {
                None => {
                    for (workspace_id, changes) in batch {
                        inner.deliver_local(&workspace_id, changes);
                    }
                }
                Some(relay) => {
                    let relay = relay.clone();
                    drop(inner);
                    relay.announce_leads(batch).await;
                }
            }
        }
    });
}

/// One task per hub: keep-alive for every stream, and the end of streams past their lifetime.
fn spawn_ticker(hub: Weak<Inner>, period: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = ticks.tick().await;
            let Some(inner) = hub.upgrade() else { return };
            for channel in lock(&inner.registry).workspaces.values() {
                let _ = channel.sender.send(Frame::Tick(now));
            }
            lock(&inner.recent).forget_old(now_ms());
        }
    });
}

/// Keeps the counts of open streams; the last stream of a workspace drops its channel.
struct Registration {
    hub: Arc<Inner>,
    viewer: Viewer,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = lock(&self.hub.registry);
        if let Some(count) = registry.sessions.get_mut(&self.viewer.session) {
            *count -= 1;
            if *count == 0 {
                registry.sessions.remove(&self.viewer.session);
            }
        }
        if let Some(channel) = registry.workspaces.get_mut(&self.viewer.workspace_id) {
            channel.streams -= 1;
            if channel.streams == 0 {
                registry.workspaces.remove(&self.viewer.workspace_id);
            }
        }
    }
}

/// One open stream: its place in its workspace's channel and the counts it holds.
pub struct LiveStream {
    receiver: broadcast::Receiver<Frame>,
    /// The page's data may be older than a change: start with a `resync`.
    missed: bool,
    ends_at: Instant,
    registration: Registration,
}

impl LiveStream {
    /// The bytes of the SSE body: a preamble, then frames as they come. Ends when the
    /// viewer's session or membership ends (after an `end` event), when the stream's
    /// lifetime passes (the browser reconnects), or when the hub goes.
    pub fn into_bytes(self) -> impl futures::Stream<Item = Bytes> + Send + 'static {
        let preamble = if self.missed { Bytes::from_static(PREAMBLE_AND_RESYNC) } else { Bytes::from_static(PREAMBLE) };
        let preamble = futures::stream::once(async move { preamble });
        let frames = futures::stream::unfold(Some(self), |state| async move {
            let mut stream = state?;
            loop {
                match stream.receiver.recv().await {
                    Ok(Frame::Events(bytes)) => return Some((bytes, Some(stream))),
                    Ok(Frame::Tick(now)) if now >= stream.ends_at => return None,
                    Ok(Frame::Tick(_)) => return Some((Bytes::from_static(KEEP_ALIVE), Some(stream))),
                    Ok(Frame::End(revocation)) if revocation.matches(&stream.registration.viewer) => {
                        return Some((Bytes::from_static(END), None))
                    }
                    Ok(Frame::End(_)) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Skip the backlog: the page reloads what it shows once instead.
                        stream.receiver = stream.receiver.resubscribe();
                        return Some((Bytes::from_static(RESYNC), Some(stream)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures::StreamExt::chain(preamble, frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(session: &str) -> Viewer {
        Viewer { workspace_id: "w1".into(), user_id: "u1".into(), session: session.into() }
    }

    #[test]
    fn coalescing_keeps_one_event_per_lead_at_its_last_position() {
        let changes = vec![
            ("a".to_string(), true),
            ("b".to_string(), false),
            ("a".to_string(), false),
            ("c".to_string(), true),
            ("b".to_string(), false),
        ];
        let events = coalesce(changes);
        let got: Vec<_> = events.iter().map(|e| (e.lead_id.as_str(), e.created)).collect();
        assert_eq!(got, vec![("a", true), ("c", true), ("b", false)]);
    }

    #[test]
    fn revocations_match_every_field_they_name_and_never_nothing() {
        let me = viewer("s1");
        let by_session = Revocation { workspace_id: None, user_id: None, session: Some("s1".into()) };
        assert!(by_session.matches(&me));
        assert!(!by_session.matches(&viewer("s2")));
        let by_member = Revocation { workspace_id: Some("w1".into()), user_id: Some("u1".into()), session: None };
        assert!(by_member.matches(&me));
        let elsewhere = Revocation { workspace_id: Some("w2".into()), user_id: Some("u1".into()), session: None };
        assert!(!elsewhere.matches(&me));
        let nothing = Revocation { workspace_id: None, user_id: None, session: None };
        assert!(!nothing.matches(&me));
    }

    #[test]
    fn events_are_written_as_server_sent_events() {
        let bytes = encode(&[LeadEvent { lead_id: "x".into(), created: true }]);
        assert_eq!(&bytes[..], b"event: lead\ndata: {\"lead_id\":\"x\",\"created\":true}\n\n");
    }
}
