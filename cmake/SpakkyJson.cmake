# spakky::event_json: the JSON wire format (JsonEventSerializer, header-only, on nlohmann_json).
# Built only when nlohmann_json is found; the core spakky::event never depends on it.
#
# Included by the top-level CMakeLists.txt. Defines, when nlohmann_json is found:
#   spakky_event_json (INTERFACE; alias spakky::event_json)
#   SPAKKY_EVENT_HAVE_JSON = ON
# and its install / build-tree export (its own export set, spakky_event_jsonTargets, loaded by
# spakky_eventConfig.cmake only where nlohmann_json is found: component `json`).

option(SPAKKY_EVENT_JSON "Build spakky::event_json when nlohmann_json is found" ON)

set(SPAKKY_EVENT_HAVE_JSON OFF)
if(NOT SPAKKY_EVENT_JSON)
  return()
endif()

# A parent project may already provide the target (e.g. through FetchContent).
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3.10 QUIET)
endif()
if(NOT TARGET nlohmann_json::nlohmann_json)
  message(STATUS "nlohmann_json not found: spakky::event_json skipped (apt-get install nlohmann-json3-dev)")
  return()
endif()
message(STATUS "nlohmann_json found: spakky::event_json enabled")
set(SPAKKY_EVENT_HAVE_JSON ON)

add_library(spakky_event_json INTERFACE)
add_library(spakky::event_json ALIAS spakky_event_json)
set_target_properties(spakky_event_json PROPERTIES EXPORT_NAME event_json)
target_link_libraries(spakky_event_json INTERFACE spakky_event nlohmann_json::nlohmann_json)

if(SPAKKY_EVENT_INSTALL)
  export(TARGETS spakky_event_json
    NAMESPACE spakky::
    FILE "${PROJECT_BINARY_DIR}/spakky_event_jsonTargets.cmake")
  install(TARGETS spakky_event_json EXPORT spakky_event_jsonTargets)
  install(EXPORT spakky_event_jsonTargets
    NAMESPACE spakky::
    DESTINATION "${SPAKKY_EVENT_CMAKE_DIR}")
endif()
