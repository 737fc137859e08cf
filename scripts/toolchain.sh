# Sourced by scripts/serve, scripts/test and scripts/bench: makes sure the tools a
# build needs are installed, and exports how to build the wasm half.
#
# Two kinds of machine:
# - rustup can give the wasm32-unknown-unknown target (a normal developer machine):
#   plain cargo builds both halves.
# - rustup cannot download it (the sandboxed build machines): Debian's rustc-web
#   toolchain with its standard-library sources builds `std` for wasm with -Zbuild-std,
#   linked by rustup's rust-lld. Both halves then use that one compiler, so the
#   dependencies they share are compiled once.
# Tools are installed only when missing, so a second run costs nothing.

set -euo pipefail

LEADLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$LEADLINE_ROOT/target}"
# Scripted builds are one-shot: incremental artifacts would only cost time and disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m[leadline]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    # Installs the Debian packages that are not installed yet.
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        say "please install: ${missing[*]} (no apt-get on this machine)"
        return 1
    fi
    say "installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" = 0 ]; then
        as_root apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup_wasm_toolchain() {
    WASM_CARGO_ARGS=()
    # LEADLINE_WASM_TOOLCHAIN=debian forces the Debian path (to test it where rustup works).
    if [ "${LEADLINE_WASM_TOOLCHAIN:-}" != debian ] && { rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
        || rustup target add wasm32-unknown-unknown >/dev/null 2>&1; }; then
        say "wasm target from rustup"
        return 0
    fi
    say "rustup cannot add wasm32-unknown-unknown here: using Debian's rustc-web with -Zbuild-std"
    apt_install rustc-web cargo-web rust-web-src
    export RUSTC=/usr/bin/rustc
    export RUSTC_BOOTSTRAP=1
    local lld
    lld="$(rustup run stable rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
    if [ ! -x "$lld" ]; then
        apt_install lld
        lld="$(command -v wasm-ld)"
    fi
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$lld"
    WASM_CARGO_ARGS=(-Zbuild-std=std,panic_abort)
}

setup_wasm_bindgen() {
    # The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
    local want have
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$LEADLINE_ROOT/Cargo.lock")"
    have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
    if [ "$have" != "$want" ]; then
        say "installing wasm-bindgen-cli $want (about 2 minutes, once)"
        cargo install wasm-bindgen-cli --version "$want" --force >/dev/null
    fi
}

setup_toolchain() {
    setup_wasm_toolchain
    setup_wasm_bindgen
}

# Release builds of both halves use type-erased Leptos components.
RELEASE_RUSTFLAGS="--cfg erase_components"

# Builds the release server binaries (flags matching the release browser bundle).
build_release_server() {
    RUSTFLAGS="$RELEASE_RUSTFLAGS" cargo build --release --features ssr "$@"
}

# Builds the browser half into target/site (what the server serves under /pkg):
# wasm (dev or release) → wasm-bindgen → (release: wasm-opt + gzip) plus CSS and public/.
build_site() {
    local mode="${1:-dev}" wasm_profile_dir cargo_profile=() extra=() rustflags="" bootstrap="${RUSTC_BOOTSTRAP:-}"
    if [ "$mode" = release ]; then
        cargo_profile=(--profile wasm-release)
        wasm_profile_dir=wasm-release
        # Smallest bundle: type-erased components (the release server is built the same
        # way, see RELEASE_RUSTFLAGS: both halves must agree for hydration), and, where
        # the standard library's sources are at hand to rebuild it, panics that abort
        # without formatting.
        rustflags="$RELEASE_RUSTFLAGS"
        if [ ${#WASM_CARGO_ARGS[@]} -gt 0 ] || rustup component add rust-src >/dev/null 2>&1; then
            rustflags="$rustflags -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none"
            extra=(-Zbuild-std=std,panic_abort)
            bootstrap=1
        fi
    else
        wasm_profile_dir=debug
        extra=("${WASM_CARGO_ARGS[@]}")
    fi
    say "building the browser bundle ($mode)"
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$rustflags" RUSTC_BOOTSTRAP="$bootstrap" \
        cargo build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate \
        "${cargo_profile[@]}" "${extra[@]}"
    local site="$CARGO_TARGET_DIR/site"
    rm -rf "$site"
    mkdir -p "$site/pkg"
    wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name leadline \
        "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$wasm_profile_dir/leadline.wasm"
    cp "$LEADLINE_ROOT/style/main.css" "$site/pkg/leadline.css"
    cp -r "$LEADLINE_ROOT/public/." "$site/"
    if [ "$mode" = release ]; then
        # binaryen from npm (Debian's wasm-opt 108 breaks wasm-bindgen's externref
        # table), with the features rustc's wasm32 target emits.
        local tools="$LEADLINE_ROOT/scripts/tools"
        if [ ! -x "$tools/node_modules/.bin/wasm-opt" ] || [ "$tools/package.json" -nt "$tools/node_modules/.package-lock.json" ]; then
            (cd "$tools" && npm install --no-audit --no-fund >/dev/null)
        fi
        "$tools/node_modules/.bin/wasm-opt" -Oz --enable-reference-types --enable-multivalue --enable-bulk-memory \
            --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
            "$site/pkg/leadline_bg.wasm" -o "$site/pkg/leadline_bg.wasm"
    fi
    hash_site_files "$site/pkg"
    if [ "$mode" = release ]; then
        # Served as-is to browsers that accept brotli or gzip (the server looks for .br
        # and .gz siblings); debug bundles are compressed on the fly instead.
        apt_install brotli
        for f in "$site/pkg/"*; do
            gzip -9 -k -f "$f"
            brotli -q 11 -k -f "$f"
        done
    fi
}

# Content-hashed names, so browsers may keep the files forever (server::assets):
# leadline.<h>.js + leadline.<h>_bg.wasm (one hash: they only work together) and
# leadline.<h>.css, listed in pkg/assets.json for the server.
hash_site_files() {
    local pkg="$1" code css
    code="$(cat "$pkg/leadline.js" "$pkg/leadline_bg.wasm" | sha256sum | cut -c1-16)"
    css="$(sha256sum "$pkg/leadline.css" | cut -c1-16)"
    mv "$pkg/leadline.js" "$pkg/leadline.$code.js"
    mv "$pkg/leadline_bg.wasm" "$pkg/leadline.${code}_bg.wasm"
    mv "$pkg/leadline.css" "$pkg/leadline.$css.css"
    printf '{"output_name":"leadline.%s","css":"leadline.%s.css"}\n' "$code" "$css" >"$pkg/assets.json"
}
