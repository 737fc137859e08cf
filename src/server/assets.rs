//! The browser bundle's files: content-hashed names, cached forever; compressed pages.
//!
//! Why: sales staff open leadline on phones over mobile data. A file whose name carries
//! a hash of its content can be kept by the browser for a year without asking again
//! (`immutable`), so a second visit downloads no JavaScript, wasm or CSS at all; a new
//! build gets new names, so nobody runs a stale bundle. `scripts/toolchain.sh`
//! (`build_site`) renames the files and writes `pkg/assets.json`; the server reads it
//! once at start and names those files in every page. The code lives in a folder named
//! for its hash (`pkg/<hash>/`): the main module, its JavaScript, and the wasm of the pages
//! split out of it (`app::admin_pages` and the other `#[lazy]` groups), which a lazily
//! loaded page names for preloading. Without a manifest (a build that predates it) the
//! plain names are used and revalidated on each visit.
//!
//! HTML and JSON answers are compressed on the fly (brotli or gzip, as the browser
//! asks); server-sent events never are, so a live update is never held in a buffer.
//! The bundle itself is compressed at build time (`.br`, `.gz` beside each file).

use axum::{
    body::Body,
    http::{header, HeaderValue, Request, StatusCode},
    middleware::Next,
    response::Response,
    Router,
};
use leptos::config::LeptosOptions;
use serde::Deserialize;
use std::{collections::HashMap, path::Path, sync::OnceLock};
use tower_http::{
    compression::{predicate::DefaultPredicate, CompressionLayer, CompressionLevel},
    services::ServeDir,
};

/// What `build_site` wrote: where the JavaScript and wasm files are (`<hash>/leadline` →
/// `<hash>/leadline.js` and `<hash>/leadline_bg.wasm`), the hashed stylesheet's file
/// name, and the wasm chunks each lazy page needs (by the name Leptos gives its split
/// point, files in the code's folder).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AssetManifest {
    pub output_name: String,
    pub css: String,
    #[serde(default)]
    pub chunks: HashMap<String, Vec<String>>,
}

impl Default for AssetManifest {
    fn default() -> Self {
        AssetManifest { output_name: "leadline".into(), css: "leadline.css".into(), chunks: HashMap::new() }
    }
}

impl AssetManifest {
    /// The addresses of the chunks the given split points need, each once.
    fn chunk_hrefs(&self, pkg_dir: &str, split_points: &[&str]) -> Vec<String> {
        let folder = self.output_name.rsplit_once('/').map_or("", |(folder, _)| folder);
        let mut hrefs = Vec::new();
        for file in split_points.iter().filter_map(|point| self.chunks.get(*point)).flatten() {
            let href = format!("/{pkg_dir}/{folder}/{file}");
            if !hrefs.contains(&href) {
                hrefs.push(href);
            }
        }
        hrefs
    }
}

static MANIFEST: OnceLock<AssetManifest> = OnceLock::new();
static PKG_DIR: OnceLock<String> = OnceLock::new();

/// Reads `<site_root>/<pkg_dir>/assets.json` (once per process) and points Leptos's
/// hydration script at the hashed files.
pub fn apply(options: &mut LeptosOptions) {
    let manifest = MANIFEST.get_or_init(|| load(&Path::new(&*options.site_root).join(&*options.site_pkg_dir)));
    PKG_DIR.get_or_init(|| options.site_pkg_dir.to_string());
    options.output_name = manifest.output_name.as_str().into();
}

fn load(pkg_dir: &Path) -> AssetManifest {
    match std::fs::read(pkg_dir.join("assets.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            tracing::warn!(%err, "pkg/assets.json is unreadable: serving the bundle under its plain names");
            AssetManifest::default()
        }),
        Err(_) => AssetManifest::default(),
    }
}

/// The stylesheet's address for `<link rel="stylesheet">`.
pub fn css_href(options: &LeptosOptions) -> String {
    let css = MANIFEST.get().map(|m| m.css.as_str()).unwrap_or("leadline.css");
    format!("/{}/{css}", options.site_pkg_dir)
}

/// The wasm chunks a page rendered with these lazy split points needs: the page names them
/// in `<link rel="preload">` so that they download alongside the main bundle instead of
/// after it (hydration waits for them).
pub fn chunk_hrefs(split_points: &[&str]) -> Vec<String> {
    match (MANIFEST.get(), PKG_DIR.get()) {
        (Some(manifest), Some(pkg_dir)) => manifest.chunk_hrefs(pkg_dir, split_points),
        _ => Vec::new(),
    }
}

/// `/pkg/*`: the bundle, precompressed files preferred, a plain 404 for any other name
/// (an old hash after a rebuild), and a cache policy by name.
pub fn router<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), files)
        .layer(axum::middleware::from_fn(cache_policy))
}

async fn cache_policy(request: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::OK || response.status() == StatusCode::NOT_MODIFIED {
        let policy = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// Anything in the code's folder `<16+ hex>/` (`leadline.js`, `leadline_bg.wasm`, the
/// split loader and chunks), and `leadline.<16+ hex>.css`.
fn is_hashed(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    let (Some(_pkg), Some(first), Some(_)) = (segments.next(), segments.next(), segments.next()) else {
        return is_hashed_name(path);
    };
    (first.len() >= 16 && first.bytes().all(|b| b.is_ascii_hexdigit())) || is_hashed_name(path)
}

/// `leadline.<16+ hex>.css` (and the JavaScript and wasm names of builds before the split).
fn is_hashed_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut parts = name.split('.');
    let (Some(_stem), Some(hash)) = (parts.next(), parts.next()) else { return false };
    let hash = hash.strip_suffix("_bg").unwrap_or(hash);
    hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && parts.next().is_some()
}

/// Brotli or gzip for whatever the client accepts, except event streams, images and
/// bodies already encoded (the precompressed bundle). Level 4: most of the size win at a
/// small fraction of brotli's maximum cost, on a server that also ingests webhooks.
pub fn compression() -> CompressionLayer<DefaultPredicate> {
    CompressionLayer::new().br(true).gzip(true).quality(CompressionLevel::Precise(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("/pkg/leadline.0123456789abcdef.js"));
        assert!(is_hashed("/pkg/leadline.0123456789abcdef_bg.wasm"));
        assert!(is_hashed("/pkg/leadline.0123456789abcdef.css"));
        assert!(!is_hashed("/pkg/leadline.js"));
        assert!(!is_hashed("/pkg/leadline_bg.wasm"));
        assert!(!is_hashed("/pkg/leadline.css"));
        assert!(!is_hashed("/pkg/leadline.0123456789abcdef"));
        assert!(!is_hashed("/pkg/leadline.short.js"));
        assert!(is_hashed("/pkg/0123456789abcdef/leadline.js"));
        assert!(is_hashed("/pkg/0123456789abcdef/leadline_bg.wasm"));
        assert!(is_hashed("/pkg/0123456789abcdef/__wasm_split.js"));
        assert!(is_hashed("/pkg/0123456789abcdef/split_settings_route_view_1_3.wasm"));
        assert!(!is_hashed("/pkg/0123456789abcdef"));
        assert!(!is_hashed("/pkg/code/leadline.js"));
        assert!(!is_hashed("/pkg/0123456789abcdeg/leadline.js"));
    }

    /// The code's folder as `build_site release` leaves it: every file beside its `.br`
    /// and `.gz`.
    fn site_with_chunks() -> (std::path::PathBuf, LeptosOptions) {
        let root = std::env::temp_dir().join(format!("leadline-assets-{}", std::process::id()));
        let code = root.join("pkg/0123456789abcdef");
        std::fs::create_dir_all(&code).unwrap();
        for name in ["leadline.js", "leadline_bg.wasm", "__wasm_split.js", "split_settings_route_view_7.wasm"] {
            std::fs::write(code.join(name), format!("plain {name}")).unwrap();
            std::fs::write(code.join(format!("{name}.br")), format!("brotli {name}")).unwrap();
            std::fs::write(code.join(format!("{name}.gz")), format!("gzip {name}")).unwrap();
        }
        let options = LeptosOptions::builder()
            .output_name("0123456789abcdef/leadline")
            .site_root(root.to_string_lossy().to_string())
            .build();
        (root, options)
    }

    async fn get(router: &Router, path: &str, encoding: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        use tower::ServiceExt;
        let request = Request::get(path).header(header::ACCEPT_ENCODING, encoding).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
        (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn chunks_are_precompressed_and_cached_forever_old_ones_are_gone() {
        let (root, options) = site_with_chunks();
        let router: Router = router(&options);
        for name in ["leadline.js", "leadline_bg.wasm", "__wasm_split.js", "split_settings_route_view_7.wasm"] {
            let path = format!("/pkg/0123456789abcdef/{name}");
            for (asked, encoding, body) in
                [("br", Some("br"), "brotli"), ("gzip", Some("gzip"), "gzip"), ("identity", None, "plain")]
            {
                let (status, headers, text) = get(&router, &path, asked).await;
                assert_eq!(status, StatusCode::OK, "{path} {asked}");
                assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable", "{path}");
                assert_eq!(
                    headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()),
                    encoding,
                    "{path} {asked}"
                );
                assert_eq!(text, format!("{body} {name}"));
            }
        }
        // A chunk of an older build (another hash) is a plain 404, never cached.
        let (status, headers, _) = get(&router, "/pkg/fedcba9876543210/split_settings_route_view_7.wasm", "br").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(headers.get(header::CACHE_CONTROL).is_none());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_lazy_page_preloads_its_chunks_once() {
        let manifest: AssetManifest = serde_json::from_str(
            r#"{"output_name":"0123456789abcdef/leadline","css":"leadline.fedcba9876543210.css",
                "chunks":{"settings_7":["chunk_1.wasm","split_settings_7_4.wasm"],"inbox_9":["chunk_1.wasm","split_inbox_9_5.wasm"]}}"#,
        )
        .unwrap();
        assert_eq!(
            manifest.chunk_hrefs("pkg", &["settings_7", "inbox_9", "unknown"]),
            [
                "/pkg/0123456789abcdef/chunk_1.wasm",
                "/pkg/0123456789abcdef/split_settings_7_4.wasm",
                "/pkg/0123456789abcdef/split_inbox_9_5.wasm"
            ]
        );
        assert!(manifest.chunk_hrefs("pkg", &[]).is_empty());
    }

    #[test]
    fn a_missing_manifest_means_plain_names() {
        assert_eq!(load(Path::new("/nonexistent")), AssetManifest::default());
    }
}
