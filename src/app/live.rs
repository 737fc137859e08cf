//! Things that change while a page is open: the clock that relative times count
//! from, and the stream of lead changes from the server (Server-Sent Events on
//! `/api/live`, which the browser reconnects by itself).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

/// One lead changed: new, new activity, edited, read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadEvent {
    pub lead_id: String,
    pub created: bool,
}

/// Whether the live stream is connected (for the little indicator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Connected,
    Reconnecting,
}

/// Subscribes the current page to its workspace's lead changes while it is mounted.
/// `on_event` runs for each change; `on_resync` after a reconnection (events may have
/// been missed while disconnected).
pub fn subscribe(on_event: impl Fn(LeadEvent) + 'static, on_resync: impl Fn() + 'static) -> ReadSignal<LiveState> {
    let (state, set_state) = signal(LiveState::Connecting);
    let on_event = std::rc::Rc::new(on_event);
    let on_resync = std::rc::Rc::new(on_resync);
    Effect::new(move |started: Option<bool>| {
        if started.is_some() {
            return true;
        }
        use leptos::wasm_bindgen::{closure::Closure, JsCast};
        let Ok(source) = leptos::web_sys::EventSource::new("/api/live") else { return true };
        let on_lead = Closure::<dyn FnMut(leptos::web_sys::MessageEvent)>::new({
            let on_event = on_event.clone();
            move |message: leptos::web_sys::MessageEvent| {
                if let Some(event) =
                    message.data().as_string().and_then(|text| serde_json::from_str::<LeadEvent>(&text).ok())
                {
                    on_event(event);
                }
            }
        });
        let on_open = Closure::<dyn FnMut(leptos::web_sys::Event)>::new({
            let on_resync = on_resync.clone();
            move |_| {
                if state.get_untracked() == LiveState::Reconnecting {
                    on_resync();
                }
                set_state.set(LiveState::Connected);
            }
        });
        let on_error =
            Closure::<dyn FnMut(leptos::web_sys::Event)>::new(move |_| set_state.set(LiveState::Reconnecting));
        let on_behind = Closure::<dyn FnMut(leptos::web_sys::Event)>::new({
            let on_resync = on_resync.clone();
            move |_| on_resync()
        });
        let _ = source.add_event_listener_with_callback("lead", on_lead.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("resync", on_behind.as_ref().unchecked_ref());
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // Closing the stream and dropping the handlers together when the page goes.
        let keep = send_wrapper::SendWrapper::new((source, on_lead, on_open, on_error, on_behind));
        on_cleanup(move || {
            let (source, ..) = &*keep;
            source.close();
            drop(keep);
        });
        true
    });
    state
}
