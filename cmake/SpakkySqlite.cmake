# spakky::event_sqlite: the SQLite outbox and inbox (header-only, on SQLite3).
# Built only when SQLite3 is found; the core spakky::event never depends on it.
#
# Included by the top-level CMakeLists.txt. Defines, when SQLite3 is found:
#   spakky_event_sqlite (INTERFACE; alias spakky::event_sqlite)
#   SPAKKY_EVENT_HAVE_SQLITE = ON
# and its install / build-tree export (its own export set, spakky_event_sqliteTargets, loaded by
# spakky_eventConfig.cmake only where SQLite3 is found: component `sqlite`).

option(SPAKKY_EVENT_SQLITE "Build spakky::event_sqlite when SQLite3 is found" ON)

set(SPAKKY_EVENT_HAVE_SQLITE OFF)
if(NOT SPAKKY_EVENT_SQLITE)
  return()
endif()

if(NOT TARGET SQLite::SQLite3)
  find_package(SQLite3 QUIET)
endif()
if(NOT TARGET SQLite::SQLite3)
  message(STATUS "SQLite3 not found: spakky::event_sqlite skipped (apt-get install libsqlite3-dev)")
  return()
endif()
message(STATUS "SQLite3 found: spakky::event_sqlite enabled")
set(SPAKKY_EVENT_HAVE_SQLITE ON)

add_library(spakky_event_sqlite INTERFACE)
add_library(spakky::event_sqlite ALIAS spakky_event_sqlite)
set_target_properties(spakky_event_sqlite PROPERTIES EXPORT_NAME event_sqlite)
target_link_libraries(spakky_event_sqlite INTERFACE spakky_event SQLite::SQLite3)

if(SPAKKY_EVENT_INSTALL)
  export(TARGETS spakky_event_sqlite
    NAMESPACE spakky::
    FILE "${PROJECT_BINARY_DIR}/spakky_event_sqliteTargets.cmake")
  install(TARGETS spakky_event_sqlite EXPORT spakky_event_sqliteTargets)
  install(EXPORT spakky_event_sqliteTargets
    NAMESPACE spakky::
    DESTINATION "${SPAKKY_EVENT_CMAKE_DIR}")
endif()
