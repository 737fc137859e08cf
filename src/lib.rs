//! leadline: a self-hosted WhatsApp lead CRM.
//!
//! The crate builds twice: with `ssr` it is the server (axum, sqlx, the Kapso webhook,
//! the CLI); with `hydrate` it is the wasm bundle that makes the server-rendered pages
//! interactive. `app`, `model` and `url` are shared by both halves; `server` exists only in the
//! first. ARCHITECTURE.md has the map.

// Leptos view types nest deeply; type-erasing them (`into_any`) needs the headroom.
#![recursion_limit = "256"]

pub mod app;
pub mod model;

#[cfg(feature = "ssr")]
pub mod server;
pub mod url;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics in the console while developing; release bundles abort on panic
    // (smaller), so the hook would never run there.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Styles key off this class to hide the JavaScript-free fallbacks once the page is
    // live; set after hydration, it also marks the moment the page became interactive
    // (end-to-end tests and scripts/bench-phone wait for it).
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.class_list().add_1("js");
    }
}
