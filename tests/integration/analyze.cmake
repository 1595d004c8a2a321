# xcensus analyze against the shared PostgreSQL fixture (pg.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(analyze_capsdb bash ${CMAKE_CURRENT_LIST_DIR}/analyze_test.sh)
