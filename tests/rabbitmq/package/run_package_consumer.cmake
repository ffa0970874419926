# Builds and runs tests/rabbitmq/package, a user project of spakky::event_rabbitmq, against
# an installed copy (MODE=find_package) or the build tree (MODE=build_tree) of this build.
#
#   cmake -DMODE=<find_package|build_tree> -DSPAKKY_SOURCE_DIR=<repo>
#         -DSPAKKY_BINARY_DIR=<build tree> -DWORK_DIR=<scratch dir> -DGENERATOR=<gen>
#         [-DMAKE_PROGRAM=<path>] -DCXX_COMPILER=<path> [-DCXX_FLAGS=<flags>]
#         [-DEXE_LINKER_FLAGS=<flags>] [-DBUILD_TYPE=<type>] -P run_package_consumer.cmake
cmake_minimum_required(VERSION 3.21)

foreach(var IN ITEMS MODE SPAKKY_SOURCE_DIR SPAKKY_BINARY_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_package_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT rc STREQUAL "0")
    list(JOIN ARGN "' '" command)
    message(FATAL_ERROR "rabbitmq package test '${MODE}': step '${name}' FAILED (exit: ${rc})\n"
                        "  command: '${command}'\n---- output ----\n${output}\n---- end of output ----")
  endif()
  message(STATUS "rabbitmq package test '${MODE}': ${name}: ok")
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

set(project_dir "${SPAKKY_SOURCE_DIR}/tests/rabbitmq/package")
set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
unset(ENV{DESTDIR})

set(configure_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

if(MODE STREQUAL "find_package")
  run_step(install "${CMAKE_COMMAND}" --install "${SPAKKY_BINARY_DIR}" --prefix "${prefix}")
  foreach(file IN ITEMS include/spakky/event/rabbitmq.hpp)
    if(NOT EXISTS "${prefix}/${file}")
      message(FATAL_ERROR "rabbitmq package test: the install did not produce ${prefix}/${file}")
    endif()
  endforeach()
  run_step(configure "${CMAKE_COMMAND}" -S "${project_dir}" -B "${build}" ${configure_args}
    "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(MODE STREQUAL "build_tree")
  run_step(configure "${CMAKE_COMMAND}" -S "${project_dir}" -B "${build}" ${configure_args}
    "-Dspakky_event_DIR=${SPAKKY_BINARY_DIR}")
else()
  message(FATAL_ERROR "run_package_consumer.cmake: unknown MODE '${MODE}'")
endif()
run_step(build "${CMAKE_COMMAND}" --build "${build}")
run_step(run "${build}/spakky_event_rabbitmq_consumer")
message(STATUS "${step_output}")
