# crawler/census + crawler/capscache against a real private Prosody
# (tests/testnet/prosody_private.sh) and the test net's client population
# (xc-population) on 127.0.0.1: rooms, joins, caps harvest, resolution with
# fallback, classification, observation counts, privacy.
add_executable(test_census ${CMAKE_CURRENT_LIST_DIR}/test_census.c)
xc_warnings(test_census)
target_link_libraries(test_census PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
add_test(NAME integration.census
  COMMAND test_census ${PROJECT_SOURCE_DIR}/tests/testnet/prosody_private.sh
          ${CMAKE_CURRENT_BINARY_DIR}/census-prosody
          ${CMAKE_BINARY_DIR}/tests/testnet/xc-population
          ${PROJECT_SOURCE_DIR}/tests/data)
set_tests_properties(integration.census PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
if(TARGET xc-population)
  add_dependencies(test_census xc-population)
endif()
