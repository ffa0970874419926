# Runs one example: passes only if it exits 0 and its output matches
# PASS_REGULAR_EXPRESSION.   cmake -DEXAMPLE=<exe> -DPASS_REGULAR_EXPRESSION=<regex> -P run_example.cmake
execute_process(COMMAND "${EXAMPLE}" RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "example ${EXAMPLE} failed (exit: ${rc})")
endif()
if(NOT output MATCHES "${PASS_REGULAR_EXPRESSION}")
  message(FATAL_ERROR "example ${EXAMPLE}: output does not match '${PASS_REGULAR_EXPRESSION}'")
endif()
