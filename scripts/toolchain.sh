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

# The split step of build_site (the page groups marked #[lazy] in src/app/mod.rs move into
# wasm modules of their own): wasm_split_cli_support's command-line tool, the library
# cargo-leptos's `--split` uses.
WASM_SPLIT_VERSION=0.2.4
setup_wasm_split() {
    if ! cargo install --list 2>/dev/null | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
        say "installing wasm-split-cli $WASM_SPLIT_VERSION (a few minutes, once)"
        cargo install wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary --locked --force >/dev/null
    fi
}

setup_toolchain() {
    setup_wasm_toolchain
    setup_wasm_bindgen
    setup_wasm_split
}

# Release builds of both halves use type-erased Leptos components.
RELEASE_RUSTFLAGS="--cfg erase_components"

# Builds the release server binaries (flags matching the release browser bundle).
build_release_server() {
    RUSTFLAGS="$RELEASE_RUSTFLAGS" cargo build --release --features ssr "$@"
}

# Builds the browser half into target/site (what the server serves under /pkg):
# wasm (dev or release) → split into the main module and the lazy pages' chunks →
# wasm-bindgen → (release: wasm-opt + brotli/gzip) plus CSS and public/.
build_site() {
    # The split step reads the linker's relocations (--emit-relocs) to move each lazy
    # page group's functions, and what only they use, into modules of their own.
    local mode="${1:-dev}" wasm_profile_dir cargo_profile=() extra=() rustflags="-Clink-args=--emit-relocs" bootstrap="${RUSTC_BOOTSTRAP:-}"
    if [ "$mode" = release ]; then
        cargo_profile=(--profile wasm-release)
        wasm_profile_dir=wasm-release
        # Smallest bundle: type-erased components (the release server is built the same
        # way, see RELEASE_RUSTFLAGS: both halves must agree for hydration), and, where
        # the standard library's sources are at hand to rebuild it, panics that abort
        # without formatting.
        rustflags="$rustflags $RELEASE_RUSTFLAGS"
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
    local site="$CARGO_TARGET_DIR/site" split="$CARGO_TARGET_DIR/wasm-split"
    rm -rf "$site" "$split"
    mkdir -p "$site/pkg"
    # The code goes to pkg/code (renamed to its hash below): leadline.js, leadline_bg.wasm,
    # the split modules (split_<group>_<n>.wasm, one per lazy page group; chunk_<n>.wasm,
    # code several groups share) and __wasm_split.js, which leadline.js imports: it fetches
    # those files (relative to itself) when a page needs them and links them to the main
    # module. Bindgen keeps the exports they link against (--keep-lld-exports, by their
    # linker names).
    wasm-split-cli --out-name leadline "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$wasm_profile_dir/leadline.wasm" "$split"
    local code="$site/pkg/code"
    wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle --out-dir "$code" --out-name leadline \
        "$split/leadline.wasm"
    rm "$split/leadline.wasm"
    cp "$split/"* "$code/"
    cp "$LEADLINE_ROOT/style/main.css" "$site/pkg/leadline.css"
    cp -r "$LEADLINE_ROOT/public/." "$site/"
    if [ "$mode" = release ]; then
        # binaryen from npm (Debian's wasm-opt 108 breaks wasm-bindgen's externref
        # table), with the features rustc's wasm32 target emits.
        local tools="$LEADLINE_ROOT/scripts/tools"
        if [ ! -x "$tools/node_modules/.bin/wasm-opt" ] || [ "$tools/package.json" -nt "$tools/node_modules/.package-lock.json" ]; then
            (cd "$tools" && npm install --no-audit --no-fund >/dev/null)
        fi
        local wasm log
        log="$(mktemp)"
        for wasm in "$code/"*.wasm; do
            if ! "$tools/node_modules/.bin/wasm-opt" -Oz --enable-reference-types --enable-multivalue --enable-bulk-memory \
                --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
                "$wasm" -o "$wasm" 2>"$log"; then
                cat "$log" >&2
                rm -f "$log"
                return 1
            fi
            # It does not know the split step's name-section entries (harmless).
            grep -v 'unknown name subsection' "$log" >&2 || true
        done
        rm -f "$log"
    fi
    hash_site_files "$site/pkg"
    if [ "$mode" = release ]; then
        # Served as-is to browsers that accept brotli or gzip (the server looks for .br
        # and .gz siblings); debug bundles are compressed on the fly instead.
        apt_install brotli
        local f
        find "$site/pkg" -type f | while read -r f; do
            gzip -9 -k -f "$f"
            brotli -q 11 -k -f "$f"
        done
    fi
}

# Content-hashed names, so browsers may keep the files forever (server::assets):
# the code's folder is named for the hash of everything in it, pkg/<h>/ (leadline.js,
# leadline_bg.wasm, the loader and the chunks: one hash, since they only work together;
# they name each other relative to that folder), and the stylesheet leadline.<h>.css;
# pkg/assets.json tells the server both, and which chunks each lazy page needs.
hash_site_files() {
    local pkg="$1" code css chunks
    code="$(cd "$pkg/code" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    css="$(sha256sum "$pkg/leadline.css" | cut -c1-16)"
    chunks="$(split_chunks_json "$pkg/code/__wasm_split.js")"
    mv "$pkg/code" "$pkg/$code"
    mv "$pkg/leadline.css" "$pkg/leadline.$css.css"
    printf '{"output_name":"%s/leadline","css":"leadline.%s.css","chunks":%s}\n' "$code" "$css" "$chunks" >"$pkg/assets.json"
}

# The wasm files each split point (a lazy page group, by the name Leptos gives it) needs, as
# JSON, read from the loader wasm-split-cli wrote: each shared chunk is a
# `/* split, split, … */` comment over `const __chunk_N = makeLoad(… new URL("./chunk_N.wasm" …`,
# each split point's own module an `export const __wasm_split_load_<split> = … new URL("./split_….wasm" …`.
split_chunks_json() {
    awk '
        function add(point, file) {
            if (!(point in files)) order[++count] = point
            files[point] = files[point] (files[point] == "" ? "" : ",") "\"" file "\""
        }
        /^\/\* .* \*\/$/ { shared = substr($0, 4, length($0) - 6); next }
        /^export const __wasm_split_load_/ { own = $3; sub(/^__wasm_split_load_/, "", own); next }
        match($0, /new URL\("\.\/[^"]+\.wasm"/) {
            file = substr($0, RSTART + 11, RLENGTH - 12)
            if (shared != "") {
                n = split(shared, points, ", ")
                for (i = 1; i <= n; i++) add(points[i], file)
                shared = ""
            } else if (own != "") {
                add(own, file)
                own = ""
            }
        }
        END {
            printf "{"
            for (i = 1; i <= count; i++) printf "%s\"%s\":[%s]", (i > 1 ? "," : ""), order[i], files[order[i]]
            printf "}"
        }
    ' "$1"
}
