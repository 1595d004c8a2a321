# Dataset snapshots (xcensus export --snapshot, xcensus import snapshot)
# against the shared PostgreSQL fixture (pg.cmake) and the known dataset of
# api_fixture.sh; see tests/integration/snapshot_test.sh for the cases.
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
foreach(case roundtrip tamper refuse source consistent fuzz)
  xc_pg_test(snapshot_${case} bash ${CMAKE_CURRENT_LIST_DIR}/snapshot_test.sh ${case})
endforeach()
