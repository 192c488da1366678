# projctl test with format avro: events given as JSON with the writer schema (--schema).
# Run by ctest as: cmake -DPROJCTL=... -DDIR=tests/avro/projctl -P projctl_avro.cmake
include(${CMAKE_CURRENT_LIST_DIR}/../cli/expect.cmake)
set(EXPECT_WORKING_DIRECTORY ${DIR})

# The view matches the expected file exactly; the bad events are dead letters with reasons.
expect_run(0 ${PROJCTL} test bank.proj --events bank.jsonl --schema bank.avsc --expect bank.expected.json)
expect_contains("${LAST_ERR}" "dead letter bank-avro:0:6: event does not fit the Avro schema: amount: fits no branch of the union (amount: decimal 0.001 has more than 2 digits after the point)")
expect_contains("${LAST_ERR}" "dead letter bank-avro:0:7: event does not fit the Avro schema: type: 'Closed' is not a symbol of enum bank.Type")
expect_contains("${LAST_ERR}" "dead letter bank-avro:0:8: not Confluent Avro")
# Logical types read as in projd: timestamps as RFC 3339, dates as YYYY-MM-DD.
expect_run(0 ${PROJCTL} test bank.proj --events bank.jsonl --schema bank.avsc)
expect_contains("${LAST_OUT}" "\"opened\": \"2025-07-14T09:30:00Z\"")
expect_contains("${LAST_OUT}" "\"opened_on\": \"2025-07-14\"")
# Without the schema: refused, saying what is missing.
expect_run(1 ${PROJCTL} test bank.proj --events bank.jsonl)
expect_contains("${LAST_ERR}" "--schema FILE.avsc")
# A schema that is not Avro.
expect_run(1 ${PROJCTL} test bank.proj --events bank.jsonl --schema bank.jsonl)
expect_contains("${LAST_ERR}" "schema is not JSON")
# explain and diff replay format avro events too, with the same --schema.
expect_run(0 ${PROJCTL} explain accounts a-2 --events bank.jsonl --file bank.proj --schema bank.avsc)
expect_contains("${LAST_OUT}" "row after: {\"balance\":99999999999999999")
expect_run(0 ${PROJCTL} diff bank.proj bank.proj --events bank.jsonl --schema bank.avsc)
expect_contains("${LAST_OUT}" "0 rows differ")
expect_run(1 ${PROJCTL} diff bank.proj bank.proj --events bank.jsonl)
expect_contains("${LAST_ERR}" "--schema FILE.avsc")
# A line that is a JSON object but has no value here (a number past 10^20) is an event error
# with the reason, not its text read as Avro.
expect_run(0 ${PROJCTL} test bank.proj --events bank.jsonl --schema bank.avsc)
expect_contains("${LAST_ERR}" "dead letter bank-avro:0:9: event does not fit the Avro schema: invalid JSON at byte 50: number out of range")
