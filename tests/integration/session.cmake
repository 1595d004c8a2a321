# crawler/session and crawler/probe against a real private Prosody on
# 127.0.0.1 (tests/testnet/prosody_private.sh), no test network needed.
add_executable(test_session ${CMAKE_CURRENT_LIST_DIR}/test_session.c)
xc_warnings(test_session)
target_link_libraries(test_session PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_test(NAME integration.session
  COMMAND test_session ${PROJECT_SOURCE_DIR}/tests/testnet/prosody_private.sh
          ${CMAKE_CURRENT_BINARY_DIR}/session-prosody)
set_tests_properties(integration.session PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
