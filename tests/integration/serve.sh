#!/usr/bin/env bash
# serve.sh CASE: one `xcensus serve` test case (tests/integration/serve_test.py)
# on a fresh database holding the known dataset (api_fixture.sh).
. "$(dirname "$0")/pg_lib.sh"
case=${1:?usage: serve.sh CASE}
db=$(xc_newdb "serve_$case")
if [ "$case" != dbdown ]; then
  XC_PG_BINDIR=$XC_PG_BINDIR bash "$XC_SOURCE_DIR/tests/integration/api_fixture.sh" "$db"
fi
export XC_SERVE_DB=$db XC_TEST_LOGDIR
exec python3 "$XC_SOURCE_DIR/tests/integration/serve_test.py" "$case"
