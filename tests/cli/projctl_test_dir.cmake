# projctl test DIR: a folder of golden cases run as one suite (fixtures in tests/projctl_golden/).
# Invoked by CTest: cmake -DPROJCTL=... -DSRC=... -DTMP=... -P projctl_test_dir.cmake
include(${CMAKE_CURRENT_LIST_DIR}/expect.cmake)

set(cases ${SRC}/tests/projctl_golden)

# Every case passes: a PASS line each, the summary, exit 0.
expect_run(0 ${PROJCTL} test ${cases}/passing)
# (check_output.errors is projctl check's output, its "1 error" line included.)
expect_contains("${LAST_OUT}" "PASS balances\nPASS check_output\nPASS two_views\nPASS unknown_function\n")
expect_contains("${LAST_OUT}" "4 cases: 4 passed, 0 failed\n")
expect_lacks("${LAST_OUT}" "FAIL")

# A passing case among failing ones: a line per case, the differences under each FAIL, exit 1.
expect_run(1 ${PROJCTL} test ${cases}/failing)
expect_contains("${LAST_OUT}" "PASS balances\n")
expect_contains("${LAST_OUT}" "FAIL wrong_view\n    ~ a1.balance: 0.30000000000000004 -> 0.3\n")
expect_contains("${LAST_OUT}" "    - zz: {\"balance\":1}  (expected, missing)\n")
expect_contains("${LAST_OUT}" "    + a2: {\"balance\":7}  (unexpected)\n")
expect_contains("${LAST_OUT}" "FAIL wrong_dead\n    - dead letter t:0:0: line 6:15: '+=' needs a number, got string  (expected, missing)\n    + dead letter t:0:1: ")
expect_contains("${LAST_OUT}" "FAIL wrong_errors\n    diagnostics differ from wrong_errors.errors\n")
expect_contains("${LAST_OUT}" "      wrong_errors.proj:5:14: unknown function 'lenght'\n")
expect_contains("${LAST_OUT}" "FAIL no_expected\n    missing no_expected.expected.json")
expect_contains("${LAST_OUT}" "5 cases: 1 passed, 4 failed\n")

# The language's own golden cases, run by projctl: the same layout, every case passes.
file(GLOB golden ${SRC}/tests/golden/*.proj)
list(LENGTH golden n)
if(n LESS 100)
  message(FATAL_ERROR "expected the golden cases in ${SRC}/tests/golden, found ${n}")
endif()
expect_run(0 ${PROJCTL} test ${SRC}/tests/golden)
expect_contains("${LAST_OUT}" "${n} cases: ${n} passed, 0 failed\n")

# A folder without cases fails; DIR takes no other arguments.
file(REMOVE_RECURSE ${TMP})
file(MAKE_DIRECTORY ${TMP})
expect_run(1 ${PROJCTL} test ${TMP})
expect_contains("${LAST_ERR}" "no NAME.proj cases in")
expect_run(2 ${PROJCTL} test ${cases}/passing --events ${cases}/passing/balances.jsonl)
