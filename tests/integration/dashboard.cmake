# The web dashboard (dashboards/web): static checks, the vendored charting
# library against package-lock.json, and headless chromium against a real
# `xcensus serve` on the known dataset (fixture from pg.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/pg.cmake)
add_test(NAME integration.dashboard_static
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/dashboard_static.py ${PROJECT_SOURCE_DIR}/dashboards/web)
add_test(NAME integration.dashboard_vendor
  COMMAND bash ${PROJECT_SOURCE_DIR}/dashboards/update-vendor.sh --check)
set_tests_properties(integration.dashboard_static integration.dashboard_vendor PROPERTIES
  LABELS integration TIMEOUT 60)
xc_pg_test(dashboard_browser bash ${CMAKE_CURRENT_LIST_DIR}/dashboard_browser.sh)
set_tests_properties(integration.dashboard_browser PROPERTIES TIMEOUT 600)
