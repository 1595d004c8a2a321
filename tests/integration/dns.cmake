# The asynchronous resolver against a real dnsmasq on 127.0.0.1 that the
# test starts itself (crawler/resolve.c).
add_executable(test_resolve ${CMAKE_CURRENT_LIST_DIR}/test_resolve.c)
xc_warnings(test_resolve)
target_link_libraries(test_resolve PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_test(NAME integration.resolve COMMAND test_resolve)
set_tests_properties(integration.resolve PROPERTIES LABELS integration TIMEOUT 120
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
