# Shell helpers for tests that use the xc_pg fixture (tests/integration/pg.cmake).
# Source it from bash; it sets -euo pipefail, loads the cluster's
# environment and creates $XC_TEST_LOGDIR.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

# Skips (77) on a developer machine, fails in CI.
xc_skip_or_fail() {
  if [ "${CI:-}" = true ]; then fail "$* (CI must not skip)"; fi
  echo "SKIP: $*"; exit 77
}

[ -n "${XC_PG_ENV:-}" ] && [ -f "$XC_PG_ENV" ] ||
  xc_skip_or_fail "PostgreSQL fixture not running (${XC_PG_ENV:-XC_PG_ENV unset})"
# shellcheck disable=SC1090
. "$XC_PG_ENV"
unset XCENSUS_DATABASE # each test names its own database
XC_TEST_LOGDIR=${XC_TEST_LOGDIR:-$(mktemp -d)}
rm -rf "$XC_TEST_LOGDIR"
mkdir -p "$XC_TEST_LOGDIR"

xc_psql() { "$XC_PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -Atq "$@"; }

# xc_newdb NAME: (re)creates database NAME and prints its conninfo.
xc_newdb() {
  "$XC_PG_BINDIR/dropdb" --if-exists "$1" >/dev/null 2>&1
  "$XC_PG_BINDIR/createdb" "$1"
  echo "host=$PGHOST port=$PGPORT dbname=$1 user=$PGUSER"
}

# xc_expect_eq WHAT EXPECTED ACTUAL
xc_expect_eq() {
  [ "$2" = "$3" ] || fail "$1: expected \"$2\", got \"$3\""
  echo "ok: $1 = $3"
}
