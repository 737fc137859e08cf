//! Things that change while a page is open: the clock that relative times count
//! from, and the stream of lead changes from the server (Server-Sent Events on
//! `/api/live`).
//!
//! The browser's EventSource reconnects by itself after a stream ends or the network
//! drops. It gives up for good when the server answers anything but a stream (401
//! signed out, 429 too many live pages) and cannot say why; the page then asks
//! [`live_status`] and shows the reason, and tries again only after a pause, so a
//! refused page never reconnects in a loop. An `end` event (session or membership
//! ended) is handled the same way.

use crate::app::api::UiError;
pub use crate::model::LeadEvent;
use leptos::prelude::*;

/// Milliseconds since the epoch, ticking every 30 s in the browser. Zero until the
/// page is hydrated: views then use the server's `now_ms`, so the first render in the
/// browser matches the server's HTML.
#[derive(Clone, Copy)]
pub struct Clock(pub RwSignal<i64>);

pub fn provide_clock() {
    let now = RwSignal::new(0_i64);
    provide_context(Clock(now));
    Effect::new(move |_| {
        let tick = move || now.set(leptos::web_sys::js_sys::Date::now() as i64);
        tick();
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(30)) {
            on_cleanup(move || handle.clear());
        }
    });
}

/// The current time for relative labels: the browser's clock once it ticks, the
/// server's render time before.
pub fn now_or(server_now: i64) -> i64 {
    match use_context::<Clock>() {
        Some(Clock(now)) => {
            let now = now.get();
            if now == 0 {
                server_now
            } else {
                now
            }
        }
        None => server_now,
    }
}

/// Whether the live stream is connected (for the little indicator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Connected,
    Reconnecting,
    /// No live updates for now, and why (shown on the page).
    Stopped(String),
}

/// `None` if this page may open a live stream now, else why not (too many live pages,
/// for instance). Asked after the stream closed for good.
#[server(endpoint = "live/status")]
pub async fn live_status() -> Result<Option<String>, UiError> {
    use crate::server::{http::AppState, web::refuse};
    let state = use_context::<AppState>().ok_or_else(|| UiError::Failed("server state missing".into()))?;
    let parts = use_context::<axum::http::request::Parts>().ok_or(UiError::SignedOut)?;
    crate::server::live::admission(&state, &parts.headers).await.map_err(refuse)
}

/// Subscribes the current page to its workspace's lead changes while it is mounted.
/// `on_event` runs for each change; `on_resync` after a reconnection (events may have
/// been missed while disconnected) or when the server says the page fell behind.
/// Bumped by every live change a page hears, so what counts leads across the workspace
/// (the navigation's "Needs reply" badge) asks again.
#[derive(Clone, Copy)]
pub struct WorkspaceChanged(pub RwSignal<u32>);

pub fn provide_workspace_changed() {
    provide_context(WorkspaceChanged(RwSignal::new(0)));
}

/// `data_read_at`: when the server read the data the page shows (its `now_ms`), if the
/// page has it yet; the first stream then starts with a `resync` if anything changed
/// since, so nothing between the page's render and its stream opening is missed.
pub fn subscribe(
    data_read_at: impl Fn() -> Option<i64> + 'static,
    on_event: impl Fn(LeadEvent) + 'static,
    on_resync: impl Fn() + 'static,
) -> ReadSignal<LiveState> {
    let changed = use_context::<WorkspaceChanged>();
    let bump = move || {
        if let Some(WorkspaceChanged(signal)) = changed {
            signal.update(|n| *n = n.wrapping_add(1));
        }
    };
    let on_event = move |event: LeadEvent| {
        bump();
        on_event(event)
    };
    let on_resync = move || {
        bump();
        on_resync()
    };
    let (state, set_state) = signal(LiveState::Connecting);
    #[cfg(feature = "hydrate")]
    {
        let handlers = std::rc::Rc::new(browser::Handlers {
            data_read_at: Box::new(data_read_at),
            on_event: Box::new(on_event),
            on_resync: Box::new(on_resync),
            state,
            set_state,
            current: Default::default(),
            failures: Default::default(),
            alive: std::cell::Cell::new(true),
        });
        Effect::new(move |started: Option<bool>| {
            if started.is_none() {
                // Untracked: what opening reads (the page's resources, for `since`) must
                // not make this effect run again, which would close the stream.
                untrack(|| browser::open(handlers.clone()));
                let keep = send_wrapper::SendWrapper::new(handlers.clone());
                on_cleanup(move || browser::close(&keep));
            }
            true
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (data_read_at, on_event, on_resync, set_state);
    state
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{live_status, LeadEvent, LiveState};
    use crate::app::api::UiError;
    use leptos::prelude::*;
    use leptos::wasm_bindgen::{closure::Closure, JsCast};
    use leptos::web_sys::{Event, EventSource, MessageEvent};
    use std::{
        cell::{Cell, RefCell},
        rc::Rc,
        time::Duration,
    };

    pub struct Handlers {
        pub data_read_at: Box<dyn Fn() -> Option<i64>>,
        pub on_event: Box<dyn Fn(LeadEvent)>,
        pub on_resync: Box<dyn Fn()>,
        pub state: ReadSignal<LiveState>,
        pub set_state: WriteSignal<LiveState>,
        /// The open EventSource and the closures it calls (dropped together).
        pub current: RefCell<Option<Connection>>,
        /// Streams in a row that closed for good without ever opening.
        pub failures: Cell<u32>,
        /// False once the page is gone.
        pub alive: Cell<bool>,
    }

    pub struct Connection {
        source: EventSource,
        _closures: Vec<Closure<dyn FnMut(Event)>>,
    }

    pub fn open(handlers: Rc<Handlers>) {
        if !handlers.alive.get() {
            return;
        }
        // The first stream says how old the page's data is; later ones resync on open anyway.
        let url = match (handlers.state.get_untracked(), (handlers.data_read_at)()) {
            (LiveState::Connecting, Some(read_at)) => format!("/api/live?since={read_at}"),
            _ => "/api/live".to_string(),
        };
        let Ok(source) = EventSource::new(&url) else { return };
        let on_lead = Closure::<dyn FnMut(Event)>::new({
            let handlers = handlers.clone();
            move |event: Event| {
                let text = event.dyn_ref::<MessageEvent>().and_then(|message| message.data().as_string());
                if let Some(change) = text.and_then(|text| serde_json::from_str::<LeadEvent>(&text).ok()) {
                    (handlers.on_event)(change);
                }
            }
        });
        let on_resync = Closure::<dyn FnMut(Event)>::new({
            let handlers = handlers.clone();
            move |_| (handlers.on_resync)()
        });
        let on_end = Closure::<dyn FnMut(Event)>::new({
            let handlers = handlers.clone();
            let source = source.clone();
            move |_| {
                source.close();
                handlers.set_state.set(LiveState::Reconnecting);
                ask_why(handlers.clone());
            }
        });
        let on_open = Closure::<dyn FnMut(Event)>::new({
            let handlers = handlers.clone();
            move |_| {
                handlers.failures.set(0);
                if handlers.state.get_untracked() != LiveState::Connecting {
                    (handlers.on_resync)();
                }
                handlers.set_state.set(LiveState::Connected);
            }
        });
        let on_error = Closure::<dyn FnMut(Event)>::new({
            let handlers = handlers.clone();
            let source = source.clone();
            move |_| {
                if source.ready_state() == EventSource::CLOSED {
                    // Refused (not a stream): the browser will not retry; find out why.
                    handlers.failures.set(handlers.failures.get() + 1);
                    ask_why(handlers.clone());
                } else if !matches!(handlers.state.get_untracked(), LiveState::Stopped(_)) {
                    handlers.set_state.set(LiveState::Reconnecting);
                }
            }
        });
        let _ = source.add_event_listener_with_callback("lead", on_lead.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let previous = handlers
            .current
            .replace(Some(Connection { source, _closures: vec![on_lead, on_resync, on_end, on_open, on_error] }));
        if let Some(previous) = previous {
            previous.source.close();
        }
    }

    /// The page is going: close the stream, drop its handlers, cancel what is pending.
    pub fn close(handlers: &Rc<Handlers>) {
        handlers.alive.set(false);
        if let Some(connection) = handlers.current.borrow_mut().take() {
            connection.source.close();
        }
    }

    /// After a stream closed for good: ask the server why, show it, and try again later
    /// (or now, if it would be admitted now).
    fn ask_why(handlers: Rc<Handlers>) {
        leptos::task::spawn_local(async move {
            // Out of the EventSource's callback now: its closures may be dropped.
            if let Some(connection) = handlers.current.borrow_mut().take() {
                connection.source.close();
            }
            if !handlers.alive.get() {
                return;
            }
            let (message, retry_in) = match live_status().await {
                Ok(None) => {
                    // Admitted now: reconnect, after a pause growing with failures in a row.
                    let failures = handlers.failures.get().min(6);
                    let pause = if failures == 0 { 0 } else { 1u64 << failures };
                    let handlers = handlers.clone();
                    set_timeout(move || open(handlers), Duration::from_secs(pause));
                    return;
                }
                Ok(Some(message)) => (message, Some(30)),
                Err(UiError::SignedOut) => (UiError::SignedOut.to_string(), None),
                Err(other) => (other.to_string(), Some(15)),
            };
            handlers.set_state.set(LiveState::Stopped(message));
            if let Some(seconds) = retry_in {
                set_timeout(move || ask_why(handlers), Duration::from_secs(seconds));
            }
        });
    }
}
