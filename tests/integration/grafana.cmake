# The Grafana dashboards' SQL against the real schema with the known dataset
# (tests/integration/grafana_sql.sh; fixture from pg.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(grafana_sql bash ${CMAKE_CURRENT_LIST_DIR}/grafana_sql.sh)
