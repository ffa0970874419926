# spakky::event_postgres: the PostgreSQL outbox and inbox (libpq) (header-only, on PostgreSQL).
# Built only when PostgreSQL is found; the core spakky::event never depends on it.
#
# Included by the top-level CMakeLists.txt. Defines, when PostgreSQL is found:
#   spakky_event_postgres (INTERFACE; alias spakky::event_postgres)
#   SPAKKY_EVENT_HAVE_POSTGRES = ON
# and its install / build-tree export (its own export set, spakky_event_postgresTargets, loaded by
# spakky_eventConfig.cmake only where PostgreSQL is found: component `postgres`).

option(SPAKKY_EVENT_POSTGRES "Build spakky::event_postgres when PostgreSQL is found" ON)

set(SPAKKY_EVENT_HAVE_POSTGRES OFF)
if(NOT SPAKKY_EVENT_POSTGRES)
  return()
endif()

if(NOT TARGET PostgreSQL::PostgreSQL)
  find_package(PostgreSQL QUIET)
endif()
if(NOT TARGET PostgreSQL::PostgreSQL)
  message(STATUS "PostgreSQL not found: spakky::event_postgres skipped (apt-get install libpq-dev)")
  return()
endif()
message(STATUS "PostgreSQL found: spakky::event_postgres enabled")
set(SPAKKY_EVENT_HAVE_POSTGRES ON)

add_library(spakky_event_postgres INTERFACE)
add_library(spakky::event_postgres ALIAS spakky_event_postgres)
set_target_properties(spakky_event_postgres PROPERTIES EXPORT_NAME event_postgres)
target_link_libraries(spakky_event_postgres INTERFACE spakky_event PostgreSQL::PostgreSQL)

if(SPAKKY_EVENT_INSTALL)
  export(TARGETS spakky_event_postgres
    NAMESPACE spakky::
    FILE "${PROJECT_BINARY_DIR}/spakky_event_postgresTargets.cmake")
  install(TARGETS spakky_event_postgres EXPORT spakky_event_postgresTargets)
  install(EXPORT spakky_event_postgresTargets
    NAMESPACE spakky::
    DESTINATION "${SPAKKY_EVENT_CMAKE_DIR}")
endif()
