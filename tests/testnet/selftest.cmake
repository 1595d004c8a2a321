# The test network's self-test (tests/testnet/selftest): brings up a small
# federation of real Prosody and ejabberd servers with the client
# population in a private network namespace, checks a sample of the truth
# file through xc-xmpp-query over s2s, brings it down and checks that no
# process or namespace is left. Needs root and `ip netns` (skips with 77
# otherwise, except when CI=true). The state dir lives in the build tree.
if(TARGET xc-xmpp-query AND TARGET xc-population)
  find_program(XC_PYTHON3 python3 REQUIRED)
  # cli/ is configured before tests/: with the xcensus binary the self-test
  # also checks the population's hashes with `xcensus caps verify`
  set(XC_SELFTEST_XCENSUS)
  if(TARGET xcensus)
    set(XC_SELFTEST_XCENSUS --xcensus $<TARGET_FILE:xcensus>)
  endif()
  add_test(NAME testnet.selftest
    COMMAND ${XC_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/selftest
      --bin-dir ${CMAKE_BINARY_DIR}/tests/testnet
      --state ${CMAKE_BINARY_DIR}/tests/testnet/selftest-state
      ${XC_SELFTEST_XCENSUS})
  # the same with servers offering STARTTLS with the test CA's certificate
  # (s2s verified against it; population and query stay plaintext)
  add_test(NAME testnet.selftest_tls
    COMMAND ${XC_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/selftest --tls
      --bin-dir ${CMAKE_BINARY_DIR}/tests/testnet
      --state ${CMAKE_BINARY_DIR}/tests/testnet/selftest-tls-state
      ${XC_SELFTEST_XCENSUS})
  set_tests_properties(testnet.selftest testnet.selftest_tls PROPERTIES
    LABELS integration RUN_SERIAL TRUE TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
