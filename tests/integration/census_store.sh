#!/bin/bash
# integration.census_store: runs test_census_store (argv[1]) on a fresh
# database of the shared PostgreSQL fixture (tests/integration/pg.cmake).
. "$(dirname "$0")/pg_lib.sh"
conninfo=$(xc_newdb xc_census_store)
exec "$1" "$conninfo"
