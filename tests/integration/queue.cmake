# crawler/queue, `xcensus seed` and `xcensus status` against the shared
# PostgreSQL fixture (tests/integration/queue.sh CASE, each case in its own
# database): the queue's statements case by case (test_queue cases), several
# claimer processes on one crawl with one of them killed (-9) mid-run, and
# the two commands.
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)

add_executable(queue_itest ${CMAKE_CURRENT_LIST_DIR}/test_queue.c)
xc_warnings(queue_itest)
target_link_libraries(queue_itest PRIVATE xcensus_crawler xcensus_common PkgConfig::CMOCKA m)

foreach(case cases multi cli)
  xc_pg_test(queue_${case} bash ${CMAKE_CURRENT_LIST_DIR}/queue.sh ${case} $<TARGET_FILE:queue_itest>)
endforeach()
set_property(TEST integration.queue_cases APPEND PROPERTY ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
