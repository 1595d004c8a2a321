# xcensus seed + crawl against a private Prosody and the shared PostgreSQL
# fixture (pg.cmake): the whole account path end to end.
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(crawl_private bash ${CMAKE_CURRENT_LIST_DIR}/crawl_test.sh)
