# Finds librabbitmq-c (Debian: librabbitmq-dev) and defines the imported target
# SpakkyEvent::librabbitmq. Used by the build and, installed next to
# spakky_eventConfig.cmake, by find_package(spakky_event) for spakky::event_rabbitmq.
#
# pkg-config first (librabbitmq.pc), then a plain search. The CMake package that Debian's
# librabbitmq-dev 0.11 ships (rabbitmq-c-config.cmake) points at a library path that does
# not exist, so it is deliberately not used.
if(TARGET SpakkyEvent::librabbitmq)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(SPAKKY_EVENT_PC_LIBRABBITMQ QUIET librabbitmq)
endif()

find_path(SPAKKY_EVENT_LIBRABBITMQ_INCLUDE_DIR amqp.h
  HINTS ${SPAKKY_EVENT_PC_LIBRABBITMQ_INCLUDE_DIRS})
find_library(SPAKKY_EVENT_LIBRABBITMQ_LIBRARY NAMES rabbitmq librabbitmq
  HINTS ${SPAKKY_EVENT_PC_LIBRABBITMQ_LIBRARY_DIRS})
mark_as_advanced(SPAKKY_EVENT_LIBRABBITMQ_INCLUDE_DIR SPAKKY_EVENT_LIBRABBITMQ_LIBRARY)

if(SPAKKY_EVENT_LIBRABBITMQ_INCLUDE_DIR AND SPAKKY_EVENT_LIBRABBITMQ_LIBRARY
   AND EXISTS "${SPAKKY_EVENT_LIBRABBITMQ_INCLUDE_DIR}/amqp_tcp_socket.h")
  add_library(SpakkyEvent::librabbitmq UNKNOWN IMPORTED)
  set_target_properties(SpakkyEvent::librabbitmq PROPERTIES
    IMPORTED_LOCATION "${SPAKKY_EVENT_LIBRABBITMQ_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SPAKKY_EVENT_LIBRABBITMQ_INCLUDE_DIR}")
  if(SPAKKY_EVENT_PC_LIBRABBITMQ_VERSION)
    set(SPAKKY_EVENT_LIBRABBITMQ_VERSION "${SPAKKY_EVENT_PC_LIBRABBITMQ_VERSION}")
  endif()
endif()
