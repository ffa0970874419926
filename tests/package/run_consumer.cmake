# Builds and runs a tiny consumer project of spakky-event, the way a user would.
#
#   cmake -DMODE=<find_package|build_tree|add_subdirectory>
#         -DSPAKKY_SOURCE_DIR=<repo> -DSPAKKY_BINARY_DIR=<build tree under test>
#         -DWORK_DIR=<scratch dir> -DGENERATOR=<gen> [-DMAKE_PROGRAM=<path>]
#         -DCXX_COMPILER=<path> [-DCXX_FLAGS=<flags>] [-DEXE_LINKER_FLAGS=<flags>]
#         [-DBUILD_TYPE=<type>] [-DEXPECT_JSON=ON]
#         -P run_consumer.cmake
#
#   find_package      install SPAKKY_BINARY_DIR into WORK_DIR/prefix, then
#                     find_package(spakky_event) with CMAKE_PREFIX_PATH=prefix
#   build_tree        find_package(spakky_event) with spakky_event_DIR=SPAKKY_BINARY_DIR
#   add_subdirectory  add_subdirectory(SPAKKY_SOURCE_DIR)
#
# With EXPECT_JSON the consumer also requires spakky::event_json (the `json` component) and
# round-trips an integration event through JsonEventSerializer.
#
# The consumer is compiled with the same compiler and flags (sanitizers
# included) as the build under test. Any failing step stops the script with
# that step's full output.
cmake_minimum_required(VERSION 3.21)

foreach(var IN ITEMS MODE SPAKKY_SOURCE_DIR SPAKKY_BINARY_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(package_dir "${SPAKKY_SOURCE_DIR}/tests/package")
set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")

# Runs one step; on failure stops with the command and everything it printed.
function(run_step name)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  if(NOT rc STREQUAL "0")
    list(JOIN ARGN "' '" command)
    message(FATAL_ERROR
      "package test '${MODE}': step '${name}' FAILED (exit: ${rc})\n"
      "  command: '${command}'\n"
      "---- output of '${name}' ----\n${output}\n---- end of output ----")
  endif()
  message(STATUS "package test '${MODE}': ${name}: ok")
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

# Fails unless the consumer's cache resolved spakky_event_DIR to `expected`.
function(expect_package_dir expected)
  file(STRINGS "${consumer_build}/CMakeCache.txt" line REGEX "^spakky_event_DIR:[A-Z]+=")
  string(REGEX REPLACE "^spakky_event_DIR:[A-Z]+=" "" found "${line}")
  file(REAL_PATH "${found}" found_real)
  file(REAL_PATH "${expected}" expected_real)
  cmake_path(IS_PREFIX expected_real "${found_real}" NORMALIZE under)
  if(NOT under)
    message(FATAL_ERROR "package test '${MODE}': spakky_event was found in '${found}', not under '${expected}'")
  endif()
  message(STATUS "package test '${MODE}': spakky_event_DIR = ${found}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
unset(ENV{DESTDIR})  # would redirect the install below

set(configure_args
  -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
  "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(EXPECT_JSON)
  list(APPEND configure_args -DSPAKKY_EXPECT_JSON=ON)
endif()

if(MODE STREQUAL "find_package")
  run_step(install "${CMAKE_COMMAND}" --install "${SPAKKY_BINARY_DIR}" --prefix "${prefix}")
  foreach(file IN ITEMS include/spakky/event.hpp)
    if(NOT EXISTS "${prefix}/${file}")
      message(FATAL_ERROR "package test '${MODE}': the install did not produce ${prefix}/${file}")
    endif()
  endforeach()
  file(GLOB_RECURSE config_files "${prefix}/*/spakky_eventConfig.cmake")
  if(NOT config_files)
    message(FATAL_ERROR "package test '${MODE}': the install did not produce spakky_eventConfig.cmake under ${prefix}")
  endif()
  run_step(configure "${CMAKE_COMMAND}" -S "${package_dir}/consumer" -B "${consumer_build}"
    ${configure_args} "-DCMAKE_PREFIX_PATH=${prefix}")
  expect_package_dir("${prefix}")
elseif(MODE STREQUAL "build_tree")
  run_step(configure "${CMAKE_COMMAND}" -S "${package_dir}/consumer" -B "${consumer_build}"
    ${configure_args} "-Dspakky_event_DIR=${SPAKKY_BINARY_DIR}")
  expect_package_dir("${SPAKKY_BINARY_DIR}")
elseif(MODE STREQUAL "add_subdirectory")
  # No SPAKKY_EVENT_BUILD_* options given: as a subproject they must default to
  # OFF, which the consumer's CMakeLists checks.
  run_step(configure "${CMAKE_COMMAND}" -S "${package_dir}/add_subdirectory" -B "${consumer_build}"
    ${configure_args} "-DSPAKKY_EVENT_SOURCE_DIR=${SPAKKY_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()

run_step(build "${CMAKE_COMMAND}" --build "${consumer_build}")
run_step(run "${consumer_build}/spakky_event_consumer")
message(STATUS "${step_output}")
