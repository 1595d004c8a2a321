# crawler/census + crawler/capscache against a real private Prosody
# (tests/testnet/prosody_private.sh) and the test net's client population
# (xc-population) on 127.0.0.1: rooms, joins, caps harvest, resolution with
# fallback, classification, observation counts, privacy (logs, sinks and a
# database of the shared PostgreSQL fixture, dumped and searched).
add_executable(test_census ${CMAKE_CURRENT_LIST_DIR}/test_census.c)
xc_warnings(test_census)
target_link_libraries(test_census PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(census bash ${CMAKE_CURRENT_LIST_DIR}/census.sh
           $<TARGET_FILE:test_census> ${PROJECT_SOURCE_DIR}/tests/testnet/prosody_private.sh
           ${CMAKE_CURRENT_BINARY_DIR}/census-prosody
           ${CMAKE_BINARY_DIR}/tests/testnet/xc-population
           ${PROJECT_SOURCE_DIR}/tests/data)
set_property(TEST integration.census APPEND PROPERTY ENVIRONMENT
  "CMOCKA_MESSAGE_OUTPUT=stdout")
if(TARGET xc-population)
  add_dependencies(test_census xc-population)
endif()

# crawler/census_store (sinks into the storage writer, cache preloading)
# against a database of the shared PostgreSQL fixture.
add_executable(test_census_store ${CMAKE_CURRENT_LIST_DIR}/test_census_store.c)
xc_warnings(test_census_store)
target_link_libraries(test_census_store PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA)
xc_pg_test(census_store bash ${CMAKE_CURRENT_LIST_DIR}/census_store.sh
           $<TARGET_FILE:test_census_store>)
set_property(TEST integration.census_store APPEND PROPERTY ENVIRONMENT
  "CMOCKA_MESSAGE_OUTPUT=stdout")
