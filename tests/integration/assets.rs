//! What a slow phone gets: compressed pages and JSON when it asks for them (and plain
//! bytes when it does not), event streams never compressed or held back, and the
//! bundle under content-hashed names that may be cached forever.
//!
//! Needs the site that `scripts/test` builds first (`build_site dev` → target/site).

use crate::support::*;
use leadline::model::Role;
use reqwest::{header, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// A client that neither asks for nor undoes compression by itself.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().no_brotli().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/site/pkg/assets.json");
    let text = std::fs::read_to_string(path).expect("target/site/pkg/assets.json: build the site first (scripts/test)");
    serde_json::from_str(&text).unwrap()
}

async fn get_raw(app: &TestApp, path: &str, cookie: Option<&str>, encoding: Option<&str>) -> reqwest::Response {
    let mut request = raw_client().get(app.url(path)).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(encoding) = encoding {
        request = request.header(header::ACCEPT_ENCODING, encoding);
    }
    request.send().await.unwrap()
}

on_both_engines! {
    async fn pages_and_json_are_compressed_only_when_asked(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        for i in 0..30 {
            app.deliver(&v2_text(&format!("wamid.C{i}"), &format!("+62812{:07}", 3_000_000 + i), &format!("c{i}"), Some("Pelanggan"), "halo"), None)
                .await
                .expect(StatusCode::OK);
        }
        let cookie = owner.cookie.clone().unwrap();

        let plain = get_raw(&app, "/leads", Some(&cookie), None).await;
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none(), "no Accept-Encoding, no compression");
        let plain_len = plain.bytes().await.unwrap().len();

        for (asked, expected) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br")] {
            let compressed = get_raw(&app, "/leads", Some(&cookie), Some(asked)).await;
            assert_eq!(compressed.status(), StatusCode::OK);
            assert_eq!(compressed.headers()[header::CONTENT_ENCODING], expected, "asked for {asked}");
            let len = compressed.bytes().await.unwrap().len();
            assert!(len * 3 < plain_len, "{asked}: {len} bytes compressed vs {plain_len} plain");
        }

        // The JSON API, compressed, decodes to the same answer.
        let decoding = reqwest::Client::new();
        let api = decoding
            .get(app.url("/api/v1/leads"))
            .bearer_auth(&app.api_token)
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::OK);
        let body: Value = api.json().await.unwrap();
        assert_eq!(body["leads"].as_array().map(Vec::len), Some(30), "{body}");
        let api_raw = raw_client()
            .get(app.url("/api/v1/leads"))
            .bearer_auth(&app.api_token)
            .header(header::ACCEPT_ENCODING, "br")
            .send()
            .await
            .unwrap();
        assert_eq!(api_raw.headers()[header::CONTENT_ENCODING], "br");
    }

    async fn live_updates_are_never_compressed_or_buffered(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let mut stream = raw_client()
            .get(app.url("/api/live"))
            .header(header::COOKIE, owner.cookie.clone().unwrap())
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        assert!(stream.headers().get(header::CONTENT_ENCODING).is_none(), "{:?}", stream.headers());
        app.deliver(&v2_text("wamid.SSE1", "+6281230000001", "c-sse", Some("Ani"), "halo"), None).await.expect(StatusCode::OK);
        let seen = read_stream_until(&mut stream, "lead_id", Duration::from_secs(5)).await;
        assert!(seen.is_some(), "the event arrived in plain text, unbuffered");
    }

    async fn the_bundle_has_hashed_names_cached_forever(app: TestApp) {
        let manifest = manifest();
        let stem = manifest["output_name"].as_str().unwrap();
        let css = manifest["css"].as_str().unwrap();
        let page = Browser::anonymous(&app).get("/login").await;
        let html = page.body.as_str().unwrap();
        for name in [format!("{stem}.js"), format!("{stem}_bg.wasm"), css.to_string()] {
            assert!(html.contains(&format!("/pkg/{name}")), "the page names /pkg/{name}");
            let file = get_raw(&app, &format!("/pkg/{name}"), None, Some("br, gzip")).await;
            assert_eq!(file.status(), StatusCode::OK, "{name}");
            assert_eq!(file.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable", "{name}");
        }
        // The lazy pages' wasm (split out of the main bundle by build_site) lives beside it.
        let folder = stem.rsplit_once('/').map(|(folder, _)| folder).expect("the code's folder in output_name");
        let chunks = manifest["chunks"].as_object().expect("assets.json lists the lazy pages' chunks");
        assert!(!chunks.is_empty(), "{manifest}");
        for file in chunks.values().flat_map(|files| files.as_array().unwrap()) {
            let name = format!("{folder}/{}", file.as_str().unwrap());
            let response = get_raw(&app, &format!("/pkg/{name}"), None, Some("br, gzip")).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable", "{name}");
        }
        // An old build's names are gone: a plain 404, never cached.
        for old in ["/pkg/leadline.00000000000000aa.js", "/pkg/00000000000000aa/leadline_bg.wasm"] {
            let old = get_raw(&app, old, None, None).await;
            assert_eq!(old.status(), StatusCode::NOT_FOUND);
            assert!(old.headers().get(header::CACHE_CONTROL).is_none_or(|v| v != "public, max-age=31536000, immutable"));
        }
        // A hashed folder is no way out of the bundle (encoded slashes and dots: a client
        // would resolve plain `../` before sending).
        for escape in ["..%2f..%2f..%2f..%2fCargo.toml", "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fCargo.toml", "..%5c..%5c..%5c..%5cCargo.toml"] {
            let response = get_raw(&app, &format!("/pkg/{folder}/{escape}"), None, None).await;
            let status = response.status();
            let cache = response.headers().get(header::CACHE_CONTROL).cloned();
            let body = response.text().await.unwrap();
            assert!(!status.is_success() && !body.contains("[package]"), "{escape}: {status}");
            assert!(cache.is_none_or(|v| v != "public, max-age=31536000, immutable"), "{escape}");
        }
        // Unhashed files the server also has (the favicon) are revalidated.
        let icon = get_raw(&app, "/favicon.svg", None, None).await;
        assert_eq!(icon.status(), StatusCode::OK);
    }

    async fn a_lazy_page_names_its_chunks_for_preloading_the_database_none(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let cookie = owner.cookie.clone().unwrap();
        let preloads = |html: &str| -> Vec<String> {
            html.match_indices("<link")
                .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
                .filter(|tag| tag.contains(r#"rel="preload""#) && tag.contains(".wasm"))
                .map(str::to_string)
                .collect()
        };
        let settings = get_raw(&app, "/settings", Some(&cookie), None).await;
        assert_eq!(settings.status(), StatusCode::OK);
        let html = settings.text().await.unwrap();
        let chunks: Vec<String> = preloads(&html).into_iter().filter(|tag| !tag.contains("leadline_bg.wasm")).collect();
        assert!(!chunks.is_empty(), "Settings preloads its chunks:\n{html}");
        assert!(chunks.iter().any(|tag| tag.contains("split_admin_pages_")), "{chunks:?}");
        let mut unique = chunks.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), chunks.len(), "each once: {chunks:?}");

        let database = get_raw(&app, "/leads", Some(&cookie), None).await;
        let html = database.text().await.unwrap();
        let tags = preloads(&html);
        assert_eq!(tags.len(), 1, "the Database preloads the main bundle only: {tags:?}");
        assert!(tags[0].contains("leadline_bg.wasm"), "{tags:?}");
    }
}
