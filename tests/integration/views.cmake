# The query catalog (lib/apicat.c, sql/0030_api_views.sql) against the known
# dataset (api_fixture.sh) in the shared PostgreSQL fixture (pg.cmake):
# every entry's values, pagination, bad arguments.
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
xc_pg_test(views bash ${CMAKE_CURRENT_LIST_DIR}/views_test.sh)
