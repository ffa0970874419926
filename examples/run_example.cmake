# Runs one example: passes only if it exits 0, its output matches PASS_REGULAR_EXPRESSION and
# (if given) does not match FAIL_REGULAR_EXPRESSION.
# and every regex of ALSO_MATCH (lines printed by another thread, whose place among the others
# varies from run to run).
#   cmake -DEXAMPLE=<exe> -DPASS_REGULAR_EXPRESSION=<regex> [-DFAIL_REGULAR_EXPRESSION=<regex>]
#         [-DALSO_MATCH=<;-list of regexes>] [-DEXAMPLE_ARGS=<;-list>] -P run_example.cmake
execute_process(COMMAND "${EXAMPLE}" ${EXAMPLE_ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "example ${EXAMPLE} failed (exit: ${rc})")
endif()
if(NOT output MATCHES "${PASS_REGULAR_EXPRESSION}")
  message(FATAL_ERROR "example ${EXAMPLE}: output does not match '${PASS_REGULAR_EXPRESSION}'")
endif()
foreach(regex IN LISTS ALSO_MATCH)
  if(NOT output MATCHES "${regex}")
    message(FATAL_ERROR "example ${EXAMPLE}: output does not match '${regex}'")
  endif()
endforeach()
if(DEFINED FAIL_REGULAR_EXPRESSION AND output MATCHES "${FAIL_REGULAR_EXPRESSION}")
  message(FATAL_ERROR "example ${EXAMPLE}: output matches '${FAIL_REGULAR_EXPRESSION}', which it must not")
endif()
