# crawler/pgasync against its own private PostgreSQL cluster (scripts/pg),
# which the test stops and starts again to prove that no retried job is lost.
add_executable(test_pgasync ${CMAKE_CURRENT_LIST_DIR}/test_pgasync.c)
xc_warnings(test_pgasync)
target_link_libraries(test_pgasync PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_test(NAME integration.pgasync
  COMMAND test_pgasync ${PROJECT_SOURCE_DIR}/scripts/pg ${CMAKE_CURRENT_BINARY_DIR}/pgasync-cluster)
set_tests_properties(integration.pgasync PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
