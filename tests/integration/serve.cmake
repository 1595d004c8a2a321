# `xcensus serve` against the shared PostgreSQL fixture (pg.cmake) with the
# known dataset (api_fixture.sh): every route's status and JSON shape, values
# equal to the catalog's SQL run by psql, pagination, bad arguments, 404/405,
# oversized headers and bodies, slow clients, path tricks, /metrics, /healthz
# with the database down, clean stop on SIGINT/SIGTERM
# (tests/integration/serve_test.py CASE).
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
foreach(case api limits static metrics dbdown)
  xc_pg_test(serve_${case} bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh ${case})
endforeach()

# docs/openapi.json and the query table of docs/API.md are what the program
# generates from the catalog (regenerate: tests/integration/serve_docs.sh --update).
add_test(NAME integration.serve_docs
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve_docs.sh)
set_tests_properties(integration.serve_docs PROPERTIES LABELS integration TIMEOUT 60
  ENVIRONMENT "XCENSUS=$<TARGET_FILE:xcensus>;XC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
