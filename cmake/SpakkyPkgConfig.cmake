# pkg-config files, for build systems other than CMake (Make, Meson, a plain compiler command):
#
#   spakky-event.pc            the core: include dir, -pthread, {fmt} (Requires: fmt)
#   spakky-event-json.pc       + nlohmann_json              (only when spakky::event_json is built)
#   spakky-event-rabbitmq.pc   + librabbitmq                (only when spakky::event_rabbitmq is built)
#   spakky-event-sqlite.pc     + sqlite3                    (only when spakky::event_sqlite is built)
#   spakky-event-postgres.pc   + libpq                      (only when spakky::event_postgres is built)
#
# Installed with the package (SPAKKY_EVENT_INSTALL) into <prefix>/<datadir>/pkgconfig: the
# library is header-only, so the files are architecture-independent. Paths in them are
# relative to the .pc file (${pcfiledir}), so `cmake --install --prefix <anywhere>` works.
#
#   spakky_event_pkg_config(<name> [PART] DESCRIPTION <text> REQUIRES <module>...)
#
# PART: an optional part (spakky-event-part.pc.in), which requires the core of the same version.

set(SPAKKY_EVENT_PKGCONFIG_DIR "${CMAKE_INSTALL_DATADIR}/pkgconfig"
    CACHE STRING "Install directory of the spakky-event pkg-config files (relative to the prefix)")
mark_as_advanced(SPAKKY_EVENT_PKGCONFIG_DIR)


# prefix and includedir as the .pc file spells them: relative to ${pcfiledir} where the
# directories are relative to the prefix, absolute where the user gave absolute ones.
if(IS_ABSOLUTE "${SPAKKY_EVENT_PKGCONFIG_DIR}")
  set(SPAKKY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  set(SPAKKY_PC_PREFIX "\${pcfiledir}")
  cmake_path(SET pc_dir NORMALIZE "${SPAKKY_EVENT_PKGCONFIG_DIR}")
  string(REGEX REPLACE "/$" "" pc_dir "${pc_dir}")
  string(REPLACE "/" ";" pc_dir_parts "${pc_dir}")
  foreach(part IN LISTS pc_dir_parts)
    string(APPEND SPAKKY_PC_PREFIX "/..")
  endforeach()
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(SPAKKY_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(SPAKKY_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

function(spakky_event_pkg_config name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "PART" "DESCRIPTION" "REQUIRES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "spakky_event_pkg_config(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  set(SPAKKY_PC_NAME "${name}")
  set(SPAKKY_PC_DESCRIPTION "${arg_DESCRIPTION}")
  set(requires ${arg_REQUIRES})
  if(arg_PART)
    list(PREPEND requires "spakky-event = ${PROJECT_VERSION}")
    set(template "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/spakky-event-part.pc.in")
  else()
    set(template "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/spakky-event.pc.in")
  endif()
  list(JOIN requires ", " SPAKKY_PC_REQUIRES)
  configure_file("${template}" "${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc" DESTINATION "${SPAKKY_EVENT_PKGCONFIG_DIR}")
endfunction()
