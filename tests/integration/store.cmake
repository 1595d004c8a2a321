# crawler/store (the storage writer) against its own private PostgreSQL
# cluster, which the test stops and starts again: every record arrives
# exactly once, spill files are replayed, replays change nothing.
add_executable(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
xc_warnings(test_store)
target_link_libraries(test_store PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_test(NAME integration.store
  COMMAND test_store ${PROJECT_SOURCE_DIR}/scripts/pg ${CMAKE_CURRENT_BINARY_DIR}/store-cluster
          ${CMAKE_CURRENT_BINARY_DIR}/store-scratch)
set_tests_properties(integration.store PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
