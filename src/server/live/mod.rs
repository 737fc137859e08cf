//! Live updates: after a change commits, the leads it touched are announced to the open
//! pages of their workspace over Server-Sent Events (`GET /api/live`).
//!
//! - `hub`: the per-workspace fan-out (coalescing, caps, ending streams on purpose).
//! - `recent`: when each workspace last changed (a page's first stream resyncs if its
//!   data is older).
//! - `relay`: with PostgreSQL, announcements travel through `NOTIFY leadline_live` so a
//!   change committed by one replica reaches pages open on every replica.
//! - `sse`: the HTTP side (`GET /api/live`, the browser's admission check).

mod hub;
mod recent;
mod relay;
mod sse;

pub use hub::{LeadChanged, LiveConfig, LiveHub, LiveStream, Refusal, Viewer};
pub use sse::{admission, router, session_key};
