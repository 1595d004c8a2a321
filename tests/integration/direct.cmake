# crawler/direct (the direct stream/TLS prober) against a private Prosody
# with TLS (direct_prosody.sh), a private dnsmasq and xc-hostile, all on
# 127.0.0.1 and started by the test itself.
add_executable(test_direct_net ${CMAKE_CURRENT_LIST_DIR}/test_direct.c)
xc_warnings(test_direct_net)
target_link_libraries(test_direct_net PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_dependencies(test_direct_net xc-hostile)
add_test(NAME integration.direct
  COMMAND test_direct_net ${CMAKE_CURRENT_LIST_DIR}/direct_prosody.sh
          ${CMAKE_CURRENT_BINARY_DIR}/direct-prosody $<TARGET_FILE:xc-hostile>)
set_tests_properties(integration.direct PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")

# `xcensus probe` end to end without any server: a closed loopback port
# gives one JSON outcome line "connect-refused" (port 1: nothing listens
# there on a test machine; the exit status, 1, is not what is checked).
add_test(NAME integration.direct_cli
  COMMAND xcensus probe --json --timeout 2000 --connect 127.0.0.1:1 refused.xnet)
set_tests_properties(integration.direct_cli PROPERTIES LABELS integration TIMEOUT 30
  PASS_REGULAR_EXPRESSION "\"type\":\"outcome\".*\"outcome\":\"connect-refused\"")
