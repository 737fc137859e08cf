# Sourced by scripts/test (and usable by hand): a throwaway PostgreSQL cluster in a
# temp dir on a free port, started with `start_postgres` (sets LEADLINE_TEST_PG_URL)
# and removed with `stop_postgres`. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` system user.

postgres_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
    local bin
    if ! bin="$(postgres_bin_dir)"; then
        apt_install postgresql
        bin="$(postgres_bin_dir)"
    fi
    PG_DIR="$(mktemp -d /tmp/leadline-pg.XXXXXX)"
    local port run=()
    port="$(free_port)"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$PG_DIR"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    # Durability settings off: this cluster lives for one test run. PG_DURABLE=1 keeps
    # PostgreSQL's production defaults (fsync, synchronous_commit, full_page_writes on):
    # benchmarks measure with those.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${PG_DURABLE:-0}" = 1 ] && durability=""
    PG_RUN=("${run[@]}")
    PG_BIN="$bin"
    PG_PORT="$port"
    PG_OPTS="-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 $durability"
    pg_ctl_start || return 1
    export LEADLINE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    PG_PID="$(head -n1 "$PG_DIR/data/postmaster.pid")"
    say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port"
}

# Starts the cluster of PG_DIR again with the options it was made with (PG_OPTS: pg_ctl's
# -o replaces every option, the port included).
pg_ctl_start() {
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "$PG_OPTS" start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
}

# Stops PostgreSQL as an operator would (`-m fast`: sessions are ended, in-flight
# transactions roll back), keeps it down for $1 seconds, and starts it again.
restart_postgres() {
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
    sleep "${1:-0}"
    pg_ctl_start
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
