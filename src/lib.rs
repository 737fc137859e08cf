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
    // Hydration is asynchronous: a page split out of the main bundle (the #[lazy] groups
    // in app/mod.rs) hydrates once its wasm has arrived (what leptos::mount::hydrate_lazy
    // does, plus the marker below).
    wasm_bindgen_futures::spawn_local(async {
        let body = leptos::prelude::document().body().expect("a page has a <body>");
        leptos::mount::hydrate_from_async(body, app::App).await.forget();
        // Styles key off this class to hide the JavaScript-free fallbacks once the page is
        // live; set after hydration, it also marks the moment the page became interactive
        // (end-to-end tests and scripts/bench-phone wait for it).
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.class_list().add_1("js");
        }
    });
}
