#!/usr/bin/env bash
# Services the test suite needs, installed from Debian's packages and started on 127.0.0.1:
#   PostgreSQL (the history store's tests run against it as well as SQLite) and
#   Chromium and ChromeDriver (the HTML dashboard is opened headless, driven over WebDriver).
#
#   scripts/test-services.sh start   install what is missing, start a throwaway PostgreSQL
#                                    cluster on a free port; prints `export VAR=...` lines
#                                    for the tests (eval them)
#   scripts/test-services.sh stop    stop that cluster and delete its data folder
#
# Installing needs root (apt-get); without it, what is missing is reported and the tests
# that need it fail under CI=true (skip otherwise).
set -euo pipefail

# one state folder per checkout: two checkouts testing at once keep their own clusters
REPO_DIR="$(cd "$(dirname "$0")/.." && pwd)"
REPO_TAG="$(printf '%s' "$REPO_DIR" | cksum | cut -d' ' -f1)"
STATE_DIR="${KMSGUARD_SERVICES_DIR:-${TMPDIR:-/tmp}/kmsguard-test-services-$(id -u)-$REPO_TAG}"

log() { echo "test-services: $*" >&2; }

apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "cannot install $* (needs root and apt-get)"
        return 1
    fi
    if [ ! -f "$STATE_DIR/.apt-updated" ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
        mkdir -p "$STATE_DIR" && touch "$STATE_DIR/.apt-updated"
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "$@" >&2
}

pg_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_postgres() {
    local bindir port data run_as=()
    bindir="$(pg_bindir)" || { apt_install postgresql && bindir="$(pg_bindir)"; } || return 1
    if [ -f "$STATE_DIR/pg/port" ] && "$bindir/pg_isready" -q -h 127.0.0.1 \
            -p "$(cat "$STATE_DIR/pg/port")"; then
        port="$(cat "$STATE_DIR/pg/port")"
    else
        rm -rf "$STATE_DIR/pg"
        mkdir -p "$STATE_DIR/pg"
        data="$STATE_DIR/pg/data"
        if [ "$(id -u)" = 0 ]; then  # the server refuses to run as root
            chown -R postgres "$STATE_DIR/pg"
            chmod 755 "$STATE_DIR"
            run_as=(runuser -u postgres --)
        fi
        port="$(free_port)"
        "${run_as[@]}" "$bindir/initdb" -D "$data" -U kmsguard --auth=trust \
            --encoding=UTF8 --no-locale >"$STATE_DIR/pg/initdb.log" 2>&1 \
            || { cat "$STATE_DIR/pg/initdb.log" >&2; return 1; }
        "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$STATE_DIR/pg/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $STATE_DIR/pg -c fsync=off" \
            start >&2 || { cat "$STATE_DIR/pg/server.log" >&2; return 1; }
        echo "$port" >"$STATE_DIR/pg/port"
        log "PostgreSQL on 127.0.0.1:$port (data in $data)"
    fi
    echo "export KMSGUARD_TEST_POSTGRES_URL=postgresql+psycopg://kmsguard@127.0.0.1:$port/postgres"
}

find_chromium() {
    command -v chromium || command -v chromium-browser || command -v google-chrome || return 1
}

start_chromium() {
    local bin
    bin="$(find_chromium)" && command -v chromedriver >/dev/null \
        || { apt_install chromium chromium-driver && bin="$(find_chromium)"; } || return 1
    echo "export KMSGUARD_TEST_CHROMIUM=$bin"
    echo "export KMSGUARD_TEST_CHROMEDRIVER=$(command -v chromedriver)"
}

stop_postgres() {
    local bindir run_as=()
    [ -d "$STATE_DIR/pg/data" ] || return 0
    bindir="$(pg_bindir)" || return 0
    [ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)
    "${run_as[@]}" "$bindir/pg_ctl" -D "$STATE_DIR/pg/data" -m immediate -w stop >&2 || true
    rm -rf "$STATE_DIR/pg"
}

case "${1:-}" in
    start)
        mkdir -p "$STATE_DIR"
        start_chromium || log "Chromium is not available: the dashboard browser tests cannot run"
        start_postgres || log "PostgreSQL is not available: the store's PostgreSQL tests cannot run"
        ;;
    stop)
        stop_postgres
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
