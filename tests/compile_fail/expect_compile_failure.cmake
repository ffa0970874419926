# Runs `cmake --build BUILD_DIR --target TARGET` and checks the outcome.
#
#   cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DEXPECT=fail|build
#         [-DEXPECTED_NAME=<text>] [-DEXPECTED_MESSAGE=<text>] [-DCONFIG=<cfg>]
#         -P expect_compile_failure.cmake
#
# EXPECT=fail (the default): passes only if the build FAILS and its output contains
# EXPECTED_NAME (the offending method's name, which appears nowhere else: not in a path, not in
# the command line) and, if given, EXPECTED_MESSAGE (the library's diagnostic).
# EXPECT=build: passes only if the build succeeds (the positive control: a broken harness, a
# missing include path or a typo in the target cannot make the failing cases pass silently).

foreach(var BUILD_DIR TARGET)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "expect_compile_failure.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED EXPECT OR EXPECT STREQUAL "")
  set(EXPECT fail)
endif()

set(command "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}")
if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
  list(APPEND command --config "${CONFIG}")
endif()

# A source that fails to compile leaves no object behind, so every run really compiles it.
execute_process(COMMAND ${command}
                RESULT_VARIABLE result
                OUTPUT_VARIABLE output
                ERROR_VARIABLE output)

if(EXPECT STREQUAL "build")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "the positive control `${TARGET}` must build but did not (exit ${result}):\n${output}")
  endif()
  message(STATUS "`${TARGET}` built, as expected")
  return()
endif()

if(NOT EXPECT STREQUAL "fail")
  message(FATAL_ERROR "expect_compile_failure.cmake: EXPECT must be `fail` or `build`, not `${EXPECT}`")
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "`${TARGET}` must NOT compile, but it built:\n${output}")
endif()
if(NOT DEFINED EXPECTED_NAME OR EXPECTED_NAME STREQUAL "")
  message(FATAL_ERROR "expect_compile_failure.cmake: -DEXPECTED_NAME=... is required with EXPECT=fail")
endif()
string(FIND "${output}" "${EXPECTED_NAME}" name_at)
if(name_at EQUAL -1)
  message(FATAL_ERROR "`${TARGET}` failed to build, but the output does not name `${EXPECTED_NAME}`:\n${output}")
endif()
if(DEFINED EXPECTED_MESSAGE AND NOT EXPECTED_MESSAGE STREQUAL "")
  string(FIND "${output}" "${EXPECTED_MESSAGE}" message_at)
  if(message_at EQUAL -1)
    message(FATAL_ERROR "`${TARGET}` failed to build, but not with `${EXPECTED_MESSAGE}`:\n${output}")
  endif()
endif()
message(STATUS "`${TARGET}` failed to compile, naming `${EXPECTED_NAME}`, as expected")
