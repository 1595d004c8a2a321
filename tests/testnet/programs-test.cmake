# Integration tests of the test network's C programs (label integration):
# - testnet.hostile: every xc-hostile mode shows its misbehaviour to a
#   loopback client, our libstrophe client (xc-xmpp-query over
#   crawler/strophe_ev.c) ends each one within its bound without crashing,
#   the server survives 100 connections and stops cleanly;
# - testnet.population: xc-population and xc-xmpp-query against one private
#   Prosody on 127.0.0.1 (skipped with 77 only if prosody is missing).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME testnet.hostile
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/hostile_check.py
            $<TARGET_FILE:xc-hostile> $<TARGET_FILE:xc-xmpp-query>)
  set_tests_properties(testnet.hostile PROPERTIES LABELS integration TIMEOUT 300)
endif()
if(Python3_Interpreter_FOUND)
  add_test(NAME testnet.population
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/programs_test.py
            ${CMAKE_BINARY_DIR}/tests/testnet ${PROJECT_SOURCE_DIR}
            ${CMAKE_BINARY_DIR}/tests/testnet/programs-test.work)
  set_tests_properties(testnet.population PROPERTIES LABELS integration TIMEOUT 300
    SKIP_RETURN_CODE 77)
endif()
