# Runs dangling_event in one mode and checks how it ends.
#   cmake -DPROGRAM=<exe> -DMODE=by-reference|shared-ptr -P run_dangling_event.cmake
# by-reference: passes only if the program fails (ASan aborts it) AND the output carries
#               AddressSanitizer's use-after-scope (or use-after-free) report: ASan exits
#               non-zero, which CTest's PASS_REGULAR_EXPRESSION alone would not check.
# shared-ptr:   passes only if the program exits 0 having read the event.
execute_process(COMMAND "${PROGRAM}" "${MODE}" RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
if(MODE STREQUAL "by-reference")
  if(rc STREQUAL "0")
    message(FATAL_ERROR "dangling_event ${MODE} exited 0: AddressSanitizer did not catch the dangling event")
  endif()
  if(NOT output MATCHES "ERROR: AddressSanitizer: (stack-use-after-scope|heap-use-after-free)")
    message(FATAL_ERROR "dangling_event ${MODE} failed (exit: ${rc}) without AddressSanitizer's "
                        "stack-use-after-scope / heap-use-after-free report")
  endif()
elseif(MODE STREQUAL "shared-ptr")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "dangling_event ${MODE} failed (exit: ${rc})")
  endif()
  if(NOT output MATCHES "read 42, dispatch completed")
    message(FATAL_ERROR "dangling_event ${MODE}: output lacks 'read 42, dispatch completed'")
  endif()
else()
  message(FATAL_ERROR "run_dangling_event.cmake: unknown MODE '${MODE}'")
endif()
