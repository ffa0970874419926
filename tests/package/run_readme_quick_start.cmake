# The README's quick start, verbatim: its program (the first ```cpp block under
# "## Quick start") saved as quick_start.cpp and its plain compiler command (the first line
# of that section starting with "g++ ") run as written, from a directory where `include` is
# the repository's include directory. The program must then run and print its greeting.
#
#   cmake -DSPAKKY_SOURCE_DIR=<repo> -DWORK_DIR=<scratch dir> -P run_readme_quick_start.cmake
cmake_minimum_required(VERSION 3.21)

foreach(var IN ITEMS SPAKKY_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_readme_quick_start.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${SPAKKY_SOURCE_DIR}/README.md" readme)
string(FIND "${readme}" "\n## Quick start\n" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no '## Quick start' section")
endif()
string(SUBSTRING "${readme}" ${at} -1 section)
# The section ends at the next level-2 heading.
string(SUBSTRING "${section}" 1 -1 rest)
string(FIND "${rest}" "\n## " next)
if(NOT next EQUAL -1)
  string(SUBSTRING "${rest}" 0 ${next} section)
endif()

string(FIND "${section}" "```cpp\n" code_at)
if(code_at EQUAL -1)
  message(FATAL_ERROR "README.md's quick start has no ```cpp block")
endif()
math(EXPR code_at "${code_at} + 7")
string(SUBSTRING "${section}" ${code_at} -1 code)
string(FIND "${code}" "```" code_end)
string(SUBSTRING "${code}" 0 ${code_end} code)

string(REGEX MATCH "\ng\\+\\+ [^\n]*" command "${section}")
string(STRIP "${command}" command)
if(command STREQUAL "")
  message(FATAL_ERROR "README.md's quick start shows no 'g++ ...' command")
endif()
message(STATUS "README command: ${command}")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/quick_start.cpp" "${code}")
file(CREATE_LINK "${SPAKKY_SOURCE_DIR}/include" "${WORK_DIR}/include" SYMBOLIC)

execute_process(COMMAND sh -c "${command}" WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "README's quick start command failed (exit ${rc}):\n  ${command}\n${output}")
endif()
if(NOT EXISTS "${WORK_DIR}/quick_start")
  message(FATAL_ERROR "README's quick start command made no ./quick_start:\n  ${command}")
endif()
execute_process(COMMAND "${WORK_DIR}/quick_start" WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
message(STATUS "./quick_start printed:\n${output}")
if(NOT rc STREQUAL "0" OR NOT output MATCHES "welcome, kim")
  message(FATAL_ERROR "README's quick start program failed (exit ${rc}) or did not greet kim")
endif()
