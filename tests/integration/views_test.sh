#!/usr/bin/env bash
# integration.views: loads the known dataset (api_fixture.sh) into a fresh
# database and checks every catalog entry of `xcensus query` against the
# numbers the fixture was written to produce and independent SQL
# (views_check.py); bad arguments exit 2 with a message.
. "$(dirname "$0")/pg_lib.sh"

db=$(xc_newdb views)
XC_SOURCE_DIR=$XC_SOURCE_DIR XCENSUS=$XCENSUS \
  bash "$XC_SOURCE_DIR/tests/integration/api_fixture.sh" "$db" \
  >"$XC_TEST_LOGDIR/fixture.log" 2>&1 || { cat "$XC_TEST_LOGDIR/fixture.log"; fail "api_fixture.sh failed"; }
XC_DB="$db" XC_PSQL="$XC_PG_BINDIR/psql" XC_SOURCE_DIR="$XC_SOURCE_DIR" python3 "$XC_SOURCE_DIR/tests/integration/views_check.py"
