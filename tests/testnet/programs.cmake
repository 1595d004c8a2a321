# The C programs of the test network (helper "pop"): xc-population (the
# client population), xc-xmpp-query (a plain query client) and xc-hostile
# (the misbehaving server), built into ${CMAKE_BINARY_DIR}/tests/testnet/.
# Their pure parts (plan and behaviour parsing, content and ver building)
# live in the static library xc_testnet_pop, also linked by the unit test
# unit.testnet_pop.
set(XC_TESTNET_BIN ${CMAKE_BINARY_DIR}/tests/testnet)

file(GLOB XC_TESTNET_POP_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/pop/*.c)
add_library(xc_testnet_pop STATIC ${XC_TESTNET_POP_SOURCES} ${PROJECT_SOURCE_DIR}/cmake/empty.c)
xc_warnings(xc_testnet_pop)
target_include_directories(xc_testnet_pop PUBLIC ${CMAKE_CURRENT_LIST_DIR}/pop)
target_link_libraries(xc_testnet_pop PUBLIC xcensus_crawler xcensus_common)

foreach(prog population xmpp_query hostile)
  string(REPLACE "_" "-" exe "xc-${prog}")
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${prog}.c)
    add_executable(${exe} ${CMAKE_CURRENT_LIST_DIR}/${prog}.c)
    xc_warnings(${exe})
    target_link_libraries(${exe} PRIVATE xc_testnet_pop xcensus_crawler xcensus_common
      PkgConfig::STROPHE PkgConfig::LIBEVENT)
    set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${XC_TESTNET_BIN})
  endif()
endforeach()

# The unit test of the pure parts needs the library (tests/unit globs it).
if(TARGET test_testnet_pop)
  target_link_libraries(test_testnet_pop PRIVATE xc_testnet_pop)
endif()
