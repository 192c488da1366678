# projctl as a user runs it: exit codes and output of check and test.
# Invoked by CTest: cmake -DPROJCTL=... -DSRC=... -P projctl_cli.cmake
include(${CMAKE_CURRENT_LIST_DIR}/expect.cmake)

set(TMP ${CMAKE_CURRENT_BINARY_DIR}/projctl_cli_tmp)
file(REMOVE_RECURSE ${TMP})
file(MAKE_DIRECTORY ${TMP})

# check: the example projections are good.
file(GLOB examples ${SRC}/projections/*.proj)
expect_run(0 ${PROJCTL} check ${examples})
expect_contains("${LAST_OUT}" "projection account_balance ok")

# check: a broken file gives FILE:LINE:COL, the line and a caret, and exit 1.
file(WRITE ${TMP}/broken.proj "projection p {\n  from \"t\"\n  key event.id\n  on X { balance += }\n}\n")
expect_run(1 ${PROJCTL} check ${TMP}/broken.proj)
expect_contains("${LAST_ERR}" "broken.proj:4:")
expect_contains("${LAST_ERR}" "  on X { balance += }")
expect_contains("${LAST_ERR}" "^")

# check: an unknown function is a load-time error.
file(WRITE ${TMP}/unknown.proj "projection p {\n  from \"t\"\n  key event.id\n  on X { a = sqrt(event.x) }\n}\n")
expect_run(1 ${PROJCTL} check ${TMP}/unknown.proj)
expect_contains("${LAST_ERR}" "unknown.proj:4:14: unknown function 'sqrt'")

# test: the view as JSON, then against --expect (equal: exit 0; different: exit 1 and a diff).
file(WRITE ${TMP}/sum.proj "projection sums {\n  from \"t\"\n  key event.k\n  on * { total += event.n }\n}\n")
file(WRITE ${TMP}/sum.jsonl "{\"k\":\"a\",\"n\":0.1}\n{\"k\":\"a\",\"n\":0.2}\n{\"k\":\"b\",\"n\":5}\nnot json\n")
expect_run(0 ${PROJCTL} test ${TMP}/sum.proj --events ${TMP}/sum.jsonl)
expect_contains("${LAST_OUT}" "\"total\": 0.3")
# --max-event-bytes as projd has it: a larger event is a dead letter saying so.
expect_run(0 ${PROJCTL} test ${TMP}/sum.proj --events ${TMP}/sum.jsonl --max-event-bytes 15)
expect_contains("${LAST_ERR}" "sums: dead letter t:0:0: event of 17 bytes is larger than --max-event-bytes 15")
expect_lacks("${LAST_OUT}" "\"total\": 0.3")
expect_contains("${LAST_ERR}" "dead letter t:0:3")
file(WRITE ${TMP}/want.json "{\"a\": {\"total\": 0.3}, \"b\": {\"total\": 5}}")
expect_run(0 ${PROJCTL} test ${TMP}/sum.proj --events ${TMP}/sum.jsonl --expect ${TMP}/want.json)
file(WRITE ${TMP}/wrong.json "{\"a\": {\"total\": 0.4}, \"c\": {\"total\": 1}}")
expect_run(1 ${PROJCTL} test ${TMP}/sum.proj --events ${TMP}/sum.jsonl --expect ${TMP}/wrong.json)
expect_contains("${LAST_OUT}" "~ a.total: 0.4 -> 0.3")
expect_contains("${LAST_OUT}" "- c:")
expect_contains("${LAST_OUT}" "+ b:")

# The examples replay cleanly, and the malformed example events become dead letters.
expect_run(0 ${PROJCTL} test ${SRC}/projections/account_balance.proj
  --events ${SRC}/examples/banking-events.jsonl)
expect_contains("${LAST_OUT}" "\"acc-00000\"")
expect_contains("${LAST_ERR}" "dead letter")

# usage errors exit 2
expect_run(2 ${PROJCTL})
expect_run(2 ${PROJCTL} test ${TMP}/sum.proj)

# diff: identical definitions agree (exit 0); a changed field, added and removed rows differ.
expect_run(0 ${PROJCTL} diff ${TMP}/sum.proj ${TMP}/sum.proj --events ${TMP}/sum.jsonl)
expect_contains("${LAST_OUT}" "0 rows differ")
file(WRITE ${TMP}/sum2.proj "projection sums {\n  from \"t\"\n  key event.k\n  where event.k != \"b\"\n  on * { total += event.n  seen = true }\n}\n")
expect_run(1 ${PROJCTL} diff ${TMP}/sum.proj ${TMP}/sum2.proj --events ${TMP}/sum.jsonl)
expect_contains("${LAST_OUT}" "~ a.seen: (unset) -> true")
expect_contains("${LAST_OUT}" "- b:")
expect_contains("${LAST_OUT}" "2 rows differ (0 added, 1 removed, 1 changed)")
expect_run(1 ${PROJCTL} diff ${TMP}/sum2.proj ${TMP}/sum.proj --events ${TMP}/sum.jsonl)
expect_contains("${LAST_OUT}" "+ b:")

# explain, offline: each event of the row with the statements it ran and the row after it.
expect_run(0 ${PROJCTL} explain sums a --events ${TMP}/sum.jsonl --file ${TMP}/sum.proj)
expect_contains("${LAST_OUT}" "t:0:1")
expect_contains("${LAST_OUT}" "line 4: on * { total += event.n }  ->  total = 0.3")
expect_contains("${LAST_OUT}" "row after: {\"total\":0.3}")
expect_run(1 ${PROJCTL} explain sums zzz --events ${TMP}/sum.jsonl --file ${TMP}/sum.proj)
