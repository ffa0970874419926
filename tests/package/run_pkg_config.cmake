# A user's build without CMake: installs this build into a scratch prefix, then compiles and
# runs the consumer programs with nothing but the compiler and `pkg-config --cflags --libs`.
#
#   cmake -DSPAKKY_SOURCE_DIR=<repo> -DSPAKKY_BINARY_DIR=<build tree> -DWORK_DIR=<scratch dir>
#         -DCXX_COMPILER=<path> -DVERSION=<project version> [-DCXX_FLAGS=<flags>]
#         [-DEXE_LINKER_FLAGS=<flags>] [-DPKG_CONFIG=<path>] [-DEXPECT_JSON=ON]
#         [-DEXPECT_RABBITMQ=ON] [-DEXPECT_SQLITE=ON] [-DEXPECT_POSTGRES=ON] -P run_pkg_config.cmake
#
#   spakky-event            tests/package/consumer/main.cpp (a handler runs once)
#   + spakky-event-json     the same program with its JSON round trip (EXPECT_JSON)
#   spakky-event-rabbitmq   tests/rabbitmq/package/main.cpp (links librabbitmq-c; EXPECT_RABBITMQ)
#   spakky-event-sqlite     pkg_config/sqlite_consumer.cpp (an outbox in SQLite; EXPECT_SQLITE)
#   spakky-event-postgres   pkg_config/postgres_consumer.cpp (links libpq; EXPECT_POSTGRES)
#
# Only the installed files are used: the source tree's include directory is never passed, so
# a .pc file pointing at the wrong place fails the compile.
cmake_minimum_required(VERSION 3.21)

foreach(var IN ITEMS SPAKKY_SOURCE_DIR SPAKKY_BINARY_DIR WORK_DIR CXX_COMPILER VERSION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_pkg_config.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT PKG_CONFIG)
  find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
endif()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE error
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc STREQUAL "0")
    list(JOIN ARGN "' '" command)
    message(FATAL_ERROR "pkg-config package test: step '${name}' FAILED (exit: ${rc})\n"
                        "  command: '${command}'\n---- output ----\n${output}\n${error}\n---- end of output ----")
  endif()
  message(STATUS "pkg-config package test: ${name}: ok ${output}")
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
unset(ENV{DESTDIR})
# Only the scratch prefix (plus the system's own directories, for fmt and the others).
set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
unset(ENV{PKG_CONFIG_LIBDIR})

run_step(install "${CMAKE_COMMAND}" --install "${SPAKKY_BINARY_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/share/pkgconfig/spakky-event.pc")
  message(FATAL_ERROR "pkg-config package test: the install did not produce share/pkgconfig/spakky-event.pc")
endif()

run_step("version of spakky-event is ${VERSION}" "${PKG_CONFIG}" --exists --print-errors "spakky-event = ${VERSION}")

separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(linker_flags UNIX_COMMAND "${EXE_LINKER_FLAGS}")

# compile_and_run(<name> <source> <define or ""> <pkg-config modules...>)
function(compile_and_run name source define)
  run_step("pkg-config --cflags --libs ${ARGN}" "${PKG_CONFIG}" --cflags --libs ${ARGN})
  separate_arguments(pc_flags UNIX_COMMAND "${step_output}")
  # The include directory must be the installed one.
  string(REGEX MATCH "-I[^ ]+" include_flag "${step_output}")
  string(REGEX REPLACE "^-I" "" include_dir "${include_flag}")
  file(REAL_PATH "${include_dir}" include_real)
  file(REAL_PATH "${prefix}/include" expected_real)
  if(NOT include_real STREQUAL expected_real)
    message(FATAL_ERROR "pkg-config package test: ${ARGN} gives -I${include_dir}, not ${prefix}/include")
  endif()
  set(defines "")
  if(define)
    set(defines "-D${define}")
  endif()
  run_step("compile ${name}" "${CXX_COMPILER}" ${cxx_flags} -std=c++20 ${defines} "${source}" ${pc_flags}
    ${linker_flags} -o "${WORK_DIR}/${name}")
  run_step("run ${name}" "${WORK_DIR}/${name}")
  set(step_output "${step_output}" PARENT_SCOPE)
endfunction()

compile_and_run(consumer "${SPAKKY_SOURCE_DIR}/tests/package/consumer/main.cpp" "" spakky-event)
if(NOT step_output MATCHES "handler ran once")
  message(FATAL_ERROR "pkg-config package test: the consumer did not report its handler")
endif()
if(EXPECT_JSON)
  compile_and_run(consumer_json "${SPAKKY_SOURCE_DIR}/tests/package/consumer/main.cpp" SPAKKY_CONSUMER_JSON
    spakky-event-json)
  if(NOT step_output MATCHES "JSON round trip")
    message(FATAL_ERROR "pkg-config package test: the JSON consumer did not round-trip")
  endif()
endif()
if(EXPECT_RABBITMQ)
  compile_and_run(consumer_rabbitmq "${SPAKKY_SOURCE_DIR}/tests/rabbitmq/package/main.cpp" "" spakky-event-rabbitmq)
endif()
if(EXPECT_SQLITE)
  compile_and_run(consumer_sqlite "${SPAKKY_SOURCE_DIR}/tests/package/pkg_config/sqlite_consumer.cpp" ""
    spakky-event-sqlite)
endif()
if(EXPECT_POSTGRES)
  compile_and_run(consumer_postgres "${SPAKKY_SOURCE_DIR}/tests/package/pkg_config/postgres_consumer.cpp" ""
    spakky-event-postgres)
endif()
