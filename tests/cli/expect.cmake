# Helpers for the CLI test scripts (cmake -P): run a command, check its exit code and output.
# EXPECT_WORKING_DIRECTORY, when set, is where the commands run.

# expect_run(CODE COMMAND...): runs COMMAND, fails unless it exits with CODE; leaves its
# output in LAST_OUT and LAST_ERR.
function(expect_run expected_code)
  set(where)
  if(DEFINED EXPECT_WORKING_DIRECTORY)
    set(where WORKING_DIRECTORY ${EXPECT_WORKING_DIRECTORY})
  endif()
  execute_process(COMMAND ${ARGN} ${where}
                  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL ${expected_code})
    message(FATAL_ERROR "expected exit ${expected_code}, got ${code}: ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUT "${out}" PARENT_SCOPE)
  set(LAST_ERR "${err}" PARENT_SCOPE)
endfunction()

function(expect_contains text needle)
  string(FIND "${text}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected to find '${needle}' in:\n${text}")
  endif()
endfunction()

function(expect_lacks text needle)
  string(FIND "${text}" "${needle}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "did not expect '${needle}' in:\n${text}")
  endif()
endfunction()
