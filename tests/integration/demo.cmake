# The README's first command (scripts/demo) end to end on a small test
# network with the programs of this build, then stopped by SIGINT. Needs
# root (network namespace); starts its own PostgreSQL. Runs alone.
add_test(NAME integration.demo
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/demo_test.sh ${CMAKE_SOURCE_DIR}
          ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/demo)
set_tests_properties(integration.demo PROPERTIES LABELS integration
  RUN_SERIAL TRUE TIMEOUT 900 SKIP_RETURN_CODE 77)
