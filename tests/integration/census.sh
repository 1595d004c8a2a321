#!/bin/bash
# integration.census: runs test_census (its arguments follow) with a fresh
# database of the shared PostgreSQL fixture, into which the census's sinks
# also write (crawler/census_store), then dumps that database and checks
# that no occupant nick or account name (all hold the marker "zq7") was
# stored anywhere, while the census's data (the public room) was. Without
# the fixture (a developer machine without PostgreSQL; never in CI) the
# test runs without a database.
if [ "${CI:-}" != true ] && { [ -z "${XC_PG_ENV:-}" ] || [ ! -f "$XC_PG_ENV" ]; }; then
    echo "no PostgreSQL fixture: running without a database"
    exec "$@"
fi
. "$(dirname "$0")/pg_lib.sh"
conninfo=$(xc_newdb xc_census)
rc=0
"$@" "$conninfo" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
dump=$XC_TEST_LOGDIR/dump.sql
"$XC_PG_BINDIR/pg_dump" -a -d "$conninfo" -f "$dump"
grep -q 'pub@conference.census.xnet' "$dump" || fail "the database holds no census data"
grep -q 'census-visit' "$dump" || fail "the database holds no visit"
rows=$(grep -c 'zq7' "$dump" || true)
xc_expect_eq "database lines naming an occupant" 0 "$rows"
