# PostgreSQL integration tests. A CTest fixture "xc_pg" starts one throwaway
# cluster in the build tree (scripts/pg start --fast, Unix socket only) and
# stops it at the end; each test creates its own database in it, so tests
# run in parallel. Logs: build/tests/pg/log (server), build/tests/pg-logs/NAME.
#
# Other areas use the fixture with
#   include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)   # guarded; defines xc_pg_test()
#   xc_pg_test(NAME COMMAND...)                    # test "integration.NAME"
# Their command then finds in its environment XC_PG_DIR (cluster), XC_PG_ENV
# (a file to source: PGHOST, PGUSER, XCENSUS_DATABASE, ...), XCENSUS (the
# program), XC_SOURCE_DIR and XC_TEST_LOGDIR; tests/integration/pg_lib.sh has
# shell helpers (xc_newdb NAME prints a conninfo of a fresh database).
include_guard(GLOBAL)

set(XC_PG_DIR ${CMAKE_BINARY_DIR}/tests/pg)
set(XC_PG_LOGS ${CMAKE_BINARY_DIR}/tests/pg-logs)

add_test(NAME integration.pg_setup
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pg_fixture.sh start ${XC_PG_DIR})
set_tests_properties(integration.pg_setup PROPERTIES
  FIXTURES_SETUP xc_pg LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "XC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
add_test(NAME integration.pg_cleanup
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pg_fixture.sh stop ${XC_PG_DIR})
set_tests_properties(integration.pg_cleanup PROPERTIES
  FIXTURES_CLEANUP xc_pg LABELS integration TIMEOUT 120
  ENVIRONMENT "XC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# xc_pg_test(NAME COMMAND...): an integration test that needs the cluster.
function(xc_pg_test name)
  add_test(NAME integration.${name} COMMAND ${ARGN})
  set_tests_properties(integration.${name} PROPERTIES
    FIXTURES_REQUIRED xc_pg LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "XC_PG_DIR=${XC_PG_DIR};XC_PG_ENV=${XC_PG_DIR}/env.sh;XCENSUS=$<TARGET_FILE:xcensus>;XC_SOURCE_DIR=${PROJECT_SOURCE_DIR};XC_TEST_LOGDIR=${XC_PG_LOGS}/${name}")
endfunction()

# The schema, migrations, import and query tests (tests/integration/pg_tests.sh CASE).
foreach(case
    migrate_empty migrate_twice migrate_newer migrate_modified migrate_concurrent
    import_capsdb reimport_capsdb import_concurrent import_bad_lines import_outcomes import_source_kind
    query_views query_empty query_other_views config_conninfo privacy_columns)
  xc_pg_test(pg_${case} bash ${CMAKE_CURRENT_LIST_DIR}/pg_tests.sh ${case})
endforeach()

# scripts/pg itself, on a second throwaway cluster (no fixture needed).
add_test(NAME integration.pg_script COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pg_script.sh)
set_tests_properties(integration.pg_script PROPERTIES LABELS integration TIMEOUT 120
  SKIP_RETURN_CODE 77 ENVIRONMENT "XC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
