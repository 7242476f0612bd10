#!/usr/bin/env bash
# The whole test suite: system packages (Chromium, PostgreSQL), the unit tests, the integration and
# end-to-end tests against a real Kafka broker (started by the tests themselves) on SQLite, then the
# database-facing tests again on a throw-away PostgreSQL cluster. Leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p test-artifacts

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== fetching the Kafka broker (Maven Central; cached in .var)"
$PY -c "from pathlib import Path; from connectors.kafka_broker import ensure_libs; ensure_libs(Path('.var'))"

PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
trap cleanup EXIT


echo "== a throw-away PostgreSQL cluster for the database-facing tests"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_DIR=$(mktemp -d /tmp/accidentlink-pg.XXXXXX)
PG_PORT=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
chown postgres "$PG_DIR" 2>/dev/null || true
if [ "$(id -u)" = 0 ]; then RUN="runuser -u postgres --"; else RUN=""; fi
$RUN "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U accidentlink >/dev/null
$RUN "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" -l "$PG_DIR/log" -w start >/dev/null
$RUN "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U accidentlink accidentlink

# The two runs are independent (each starts its own broker on free ports, its own temporary
# stores): they run side by side, each line prefixed with its run's name, and both must pass.
# - SQLite: every test.
# - PostgreSQL: the tests whose outcome depends on the database (the ports' contract suites, the pipelines,
#   crash and scale-out, the flows through HTTP and topics). Not the browser tests, the access matrix, the
#   hostile-HTTP fuzzing or the secured broker: they exercise the same SQL through the same adapters, and
#   would double the suite's time on two cores.
# Then the tests marked `quiet` (latency measured in a page) run alone, on a machine doing nothing else.
echo "== unit, integration and end-to-end tests on SQLite, and the database-facing tests on PostgreSQL, in parallel"
( $PY -m pytest -q -p no:cacheprovider -m "not quiet" tests --durations=15 --junitxml=test-artifacts/junit-sqlite.xml 2>&1 \
    | sed -u 's/^/[sqlite] /' ; exit "${PIPESTATUS[0]}" ) &
SQLITE_RUN=$!
( TEST_DATABASE_URL="postgresql://accidentlink@127.0.0.1:$PG_PORT/accidentlink" \
    $PY -m pytest -q -p no:cacheprovider -m "(integration or e2e) and not browser and not quiet" tests --durations=10 \
    --ignore=tests/e2e/test_access_matrix.py --ignore=tests/e2e/test_hostile_http.py \
    --ignore=tests/integration/test_secure_broker.py \
    --junitxml=test-artifacts/junit-postgres.xml 2>&1 | sed -u 's/^/[postgres] /' ; exit "${PIPESTATUS[0]}" ) &
PG_RUN=$!
sqlite_rc=0; pg_rc=0
wait "$SQLITE_RUN" || sqlite_rc=$?
wait "$PG_RUN" || pg_rc=$?
echo "== SQLite run: exit $sqlite_rc; PostgreSQL run: exit $pg_rc"
echo "== the tests that measure latency, alone"
quiet_rc=0
$PY -m pytest -q -p no:cacheprovider -m quiet tests --junitxml=test-artifacts/junit-quiet.xml || quiet_rc=$?
echo "== SQLite: exit $sqlite_rc; PostgreSQL: exit $pg_rc; quiet: exit $quiet_rc"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ] && [ "$quiet_rc" = 0 ]
