#!/usr/bin/env bash
# integration.grafana_sql: every SQL query of dashboards/grafana/*.json runs on
# the known dataset (api_fixture.sh) and returns rows (grafana_sql.py); a
# copy of the dashboard with a broken query, a base-table read, an unknown
# macro, an empty result or overlapping panels must make the checker fail.
. "$(dirname "$0")/pg_lib.sh"

py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import yaml' 2>/dev/null || xc_skip_or_fail "python3-yaml (Debian) not installed"

db=$(xc_newdb grafana_sql)
bash "$XC_SOURCE_DIR/tests/integration/api_fixture.sh" "$db" ||
  fail "api_fixture.sh failed"
psql=$XC_PG_BINDIR/psql
dash=$XC_SOURCE_DIR/dashboards/grafana

"$py" "$XC_SOURCE_DIR/tests/integration/grafana_sql.py" "$db" "$psql" "$dash" ||
  fail "a Grafana query failed (see above)"

# the checker itself must catch each kind of mistake
# shellcheck disable=SC2016 # sed expressions, not shell
for mutation in 's/FROM v_server_versions/FROM v_server_versionz/' \
                's/FROM v_overview/FROM entities/' \
                's/\$__timeFilter(created_at)/$__timeFilterX(created_at)/' \
                's/FROM v_domains\\nORDER BY domain\\nLIMIT 1000/FROM v_domains WHERE false/' \
                '0,/"x": 12/s//"x": 6/'; do
  bad=$XC_TEST_LOGDIR/bad
  rm -rf "$bad"
  mkdir -p "$bad"
  cp -r "$dash/provisioning" "$bad/"
  sed "$mutation" "$dash/xcensus.json" >"$bad/xcensus.json"
  cmp -s "$dash/xcensus.json" "$bad/xcensus.json" && fail "mutation $mutation changed nothing"
  if "$py" "$XC_SOURCE_DIR/tests/integration/grafana_sql.py" "$db" "$psql" "$bad" \
    >"$XC_TEST_LOGDIR/mutation.log" 2>&1; then
    fail "the checker accepted a dashboard changed by $mutation"
  fi
  echo "ok: the checker refuses $mutation"
done
echo "grafana_sql: ok"
