# A crawl of the whole local test network (tests/testnet), compared with its
# truth file: needs root for the network namespace. Runs alone.
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(crawl_testnet bash ${CMAKE_CURRENT_LIST_DIR}/crawl_testnet.sh
  ${CMAKE_BINARY_DIR}/tests/testnet ${CMAKE_CURRENT_BINARY_DIR}/crawl-testnet)
set_tests_properties(integration.crawl_testnet PROPERTIES RUN_SERIAL TRUE TIMEOUT 900)
