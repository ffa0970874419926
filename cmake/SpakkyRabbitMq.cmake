# spakky::event_rabbitmq: the RabbitMQ transport and consumer (header-only, on librabbitmq-c).
# Built only when librabbitmq is found; the core spakky::event never depends on it.
#
# Included by the top-level CMakeLists.txt. Defines, when librabbitmq is found:
#   spakky_event_rabbitmq (INTERFACE; alias spakky::event_rabbitmq)
#   SPAKKY_EVENT_HAVE_RABBITMQ = ON
# and its install / build-tree export (its own export set, spakky_event_rabbitmqTargets,
# loaded by spakky_eventConfig.cmake only where librabbitmq is found).

option(SPAKKY_EVENT_RABBITMQ "Build spakky::event_rabbitmq when librabbitmq-c is found" ON)

set(SPAKKY_EVENT_HAVE_RABBITMQ OFF)
if(NOT SPAKKY_EVENT_RABBITMQ)
  return()
endif()

include("${CMAKE_CURRENT_LIST_DIR}/spakky_event_find_librabbitmq.cmake")
if(NOT TARGET SpakkyEvent::librabbitmq)
  message(STATUS "librabbitmq not found: spakky::event_rabbitmq skipped (apt-get install librabbitmq-dev)")
  return()
endif()
message(STATUS "librabbitmq found (${SPAKKY_EVENT_LIBRABBITMQ_LIBRARY}): spakky::event_rabbitmq enabled")
set(SPAKKY_EVENT_HAVE_RABBITMQ ON)

add_library(spakky_event_rabbitmq INTERFACE)
add_library(spakky::event_rabbitmq ALIAS spakky_event_rabbitmq)
set_target_properties(spakky_event_rabbitmq PROPERTIES EXPORT_NAME event_rabbitmq)
target_link_libraries(spakky_event_rabbitmq INTERFACE spakky_event SpakkyEvent::librabbitmq)

if(SPAKKY_EVENT_INSTALL)
  # Build tree: the config next to this export finds librabbitmq with the same module.
  export(TARGETS spakky_event_rabbitmq
    NAMESPACE spakky::
    FILE "${PROJECT_BINARY_DIR}/spakky_event_rabbitmqTargets.cmake")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/spakky_event_find_librabbitmq.cmake"
    "${PROJECT_BINARY_DIR}/spakky_event_find_librabbitmq.cmake" COPYONLY)

  install(TARGETS spakky_event_rabbitmq EXPORT spakky_event_rabbitmqTargets)
  install(EXPORT spakky_event_rabbitmqTargets
    NAMESPACE spakky::
    DESTINATION "${SPAKKY_EVENT_CMAKE_DIR}")
  install(FILES "${CMAKE_CURRENT_LIST_DIR}/spakky_event_find_librabbitmq.cmake"
    DESTINATION "${SPAKKY_EVENT_CMAKE_DIR}")
endif()
