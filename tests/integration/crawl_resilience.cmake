# Several crawler processes on one crawl against a private multi-host Prosody
# and their own PostgreSQL cluster, which the test kills, stops and restarts
# mid-crawl (crawl_resilience.sh). Runs alone: it starts several servers.
add_test(NAME integration.crawl_resilience
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/crawl_resilience.sh
          $<TARGET_FILE:xcensus> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/crawl-resilience)
set_tests_properties(integration.crawl_resilience PROPERTIES LABELS integration
  TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
