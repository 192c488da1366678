# projctl test with format avro: events given as JSON with the writer schema (--schema).
# Run by ctest as: cmake -DPROJCTL=... -DDIR=tests/avro/projctl -P projctl_avro.cmake
function(run expect_rc)
  execute_process(COMMAND ${PROJCTL} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err WORKING_DIRECTORY ${DIR})
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "projctl ${ARGN}: exit ${rc}, wanted ${expect_rc}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(require text haystack)
  string(FIND "${haystack}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected to find '${text}' in:\n${haystack}")
  endif()
endfunction()

# The view matches the expected file exactly; the bad events are dead letters with reasons.
run(0 test bank.proj --events bank.jsonl --schema bank.avsc --expect bank.expected.json)
require("dead letter bank-avro:0:6: event does not fit the Avro schema: amount: fits no branch of the union (amount: decimal 0.001 has more than 2 digits after the point)" "${err}")
require("dead letter bank-avro:0:7: event does not fit the Avro schema: type: 'Closed' is not a symbol of enum bank.Type" "${err}")
require("dead letter bank-avro:0:8: not Confluent Avro" "${err}")
# Logical types read as in projd: timestamps as RFC 3339, dates as YYYY-MM-DD.
run(0 test bank.proj --events bank.jsonl --schema bank.avsc)
require("\"opened\": \"2025-07-14T09:30:00Z\"" "${out}")
require("\"opened_on\": \"2025-07-14\"" "${out}")
# Without the schema: refused, saying what is missing.
run(1 test bank.proj --events bank.jsonl)
require("--schema FILE.avsc" "${err}")
# A schema that is not Avro.
run(1 test bank.proj --events bank.jsonl --schema bank.jsonl)
require("schema is not JSON" "${err}")
