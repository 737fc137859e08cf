//! The browser bundle's files: content-hashed names, cached forever; compressed pages.
//!
//! Why: sales staff open leadline on phones over mobile data. A file whose name carries
//! a hash of its content can be kept by the browser for a year without asking again
//! (`immutable`), so a second visit downloads no JavaScript, wasm or CSS at all; a new
//! build gets new names, so nobody runs a stale bundle. `scripts/toolchain.sh`
//! (`build_site`) renames the files and writes `pkg/assets.json`; the server reads it
//! once at start and names those files in every page. Without a manifest (a build that
//! predates it) the plain names are used and revalidated on each visit.
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
use std::{path::Path, sync::OnceLock};
use tower_http::{
    compression::{predicate::DefaultPredicate, CompressionLayer, CompressionLevel},
    services::ServeDir,
};

/// What `build_site` wrote: the hashed stem of the JavaScript and wasm files
/// (`leadline.<hash>` → `leadline.<hash>.js` and `leadline.<hash>_bg.wasm`) and the
/// hashed stylesheet's file name.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AssetManifest {
    pub output_name: String,
    pub css: String,
}

impl Default for AssetManifest {
    fn default() -> Self {
        AssetManifest { output_name: "leadline".into(), css: "leadline.css".into() }
    }
}

static MANIFEST: OnceLock<AssetManifest> = OnceLock::new();

/// Reads `<site_root>/<pkg_dir>/assets.json` (once per process) and points Leptos's
/// hydration script at the hashed files.
pub fn apply(options: &mut LeptosOptions) {
    let manifest = MANIFEST.get_or_init(|| load(&Path::new(&*options.site_root).join(&*options.site_pkg_dir)));
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

/// `leadline.<16+ hex>.js`, `leadline.<hex>_bg.wasm`, `leadline.<hex>.css`.
fn is_hashed(path: &str) -> bool {
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
    }

    #[test]
    fn a_missing_manifest_means_plain_names() {
        assert_eq!(load(Path::new("/nonexistent")), AssetManifest::default());
    }
}
