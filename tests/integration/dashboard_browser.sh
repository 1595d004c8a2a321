#!/usr/bin/env bash
# integration.dashboard_browser: headless chromium loads every dashboard page
# from a real `xcensus serve` (dashboard_browser.py): first on the known
# dataset (api_fixture.sh), then on an empty database. Screenshots:
# $XC_TEST_LOGDIR/shots/ and shots-empty/ in the build tree.
. "$(dirname "$0")/pg_lib.sh"

py=/usr/bin/python3 # Debian's python, where python3-selenium lives
[ -x "$py" ] || py=python3
for b in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$b" ] || xc_skip_or_fail "$b not installed (scripts/install-deps: chromium chromium-driver)"
done
"$py" -c 'import selenium' 2>/dev/null ||
  xc_skip_or_fail "python3-selenium not installed (scripts/install-deps)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# serve NAME CONNINFO: starts `xcensus serve` on a free loopback port and
# sets $url; skips when serve is not implemented yet
serve() {
  local out=$XC_TEST_LOGDIR/serve-$1.out log=$XC_TEST_LOGDIR/serve-$1.log
  "$XCENSUS" serve -d "$2" --listen 127.0.0.1 --port 0 \
    --static-dir "$XC_SOURCE_DIR/dashboards/web" >"$out" 2>"$log" &
  local pid=$!
  pids+=("$pid")
  url=""
  for _ in $(seq 300); do
    url=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*/\).*|\1|p' "$out" | head -n1)
    [ -n "$url" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      if grep -q "not implemented yet" "$out" "$log"; then
        echo "SKIP: xcensus serve says \"not implemented yet\"; the browser test needs it"
        exit 77
      fi
      cat "$log" >&2
      fail "xcensus serve ($1) exited before listening"
    fi
    sleep 0.1
  done
  fail "xcensus serve ($1) did not say where it listens (see $log)"
}

db=$(xc_newdb dashboard_browser)
bash "$XC_SOURCE_DIR/tests/integration/api_fixture.sh" "$db" ||
  fail "api_fixture.sh failed"
serve data "$db"
"$py" "$XC_SOURCE_DIR/tests/integration/dashboard_browser.py" "$url" data "$XC_TEST_LOGDIR/shots" ||
  fail "the dashboard failed on the known dataset (screenshots: $XC_TEST_LOGDIR/shots)"

empty=$(xc_newdb dashboard_browser_empty)
"$XCENSUS" migrate -d "$empty" >"$XC_TEST_LOGDIR/migrate-empty.log" 2>&1 || fail "migrate failed"
serve empty "$empty"
"$py" "$XC_SOURCE_DIR/tests/integration/dashboard_browser.py" "$url" empty "$XC_TEST_LOGDIR/shots-empty" ||
  fail "the dashboard failed on an empty database (screenshots: $XC_TEST_LOGDIR/shots-empty)"
echo "dashboard_browser: ok (screenshots in $XC_TEST_LOGDIR/shots and shots-empty)"
