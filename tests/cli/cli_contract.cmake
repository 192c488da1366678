# The command lines of projd and projctl (SPEC §14, §7): --version, --help and -h on stdout with
# exit 0 (every projctl subcommand too), usage errors exit 2 naming the flag, flags before or
# after the subcommand and as --flag=value; then, against a projd --demo started here, --json,
# --limit, --cursor and --all, and the server and token from flags or the environment.
# Invoked by CTest: cmake -DPROJD=... -DPROJCTL=... -DSRC=... -DTMP=... -DVERSION=...
#   -P cli_contract.cmake
include(${CMAKE_CURRENT_LIST_DIR}/expect.cmake)

file(REMOVE_RECURSE ${TMP})
file(MAKE_DIRECTORY ${TMP})

# expect_usage(NAME COMMAND...): COMMAND prints its usage for NAME on stdout (nothing on
# stderr) and exits 0. Leaves its output in LAST_OUT.
function(expect_usage name)
  expect_run(0 ${ARGN})
  expect_contains("${LAST_OUT}" "Usage: ${name}")
  if(NOT LAST_ERR STREQUAL "")
    message(FATAL_ERROR "expected nothing on stderr from ${ARGN}, got:\n${LAST_ERR}")
  endif()
  set(LAST_OUT "${LAST_OUT}" PARENT_SCOPE)
endfunction()

# expect_usage_error(NEEDLE COMMAND...): COMMAND exits 2 with NEEDLE on stderr and nothing on
# stdout. Leaves its errors in LAST_ERR.
function(expect_usage_error needle)
  expect_run(2 ${ARGN})
  expect_contains("${LAST_ERR}" "${needle}")
  if(NOT LAST_OUT STREQUAL "")
    message(FATAL_ERROR "expected nothing on stdout from ${ARGN}, got:\n${LAST_OUT}")
  endif()
  set(LAST_ERR "${LAST_ERR}" PARENT_SCOPE)
endfunction()

# count_matches(OUT REGEX TEXT): how often REGEX matches TEXT.
function(count_matches out regex text)
  string(REGEX MATCHALL "${regex}" found "${text}")
  list(LENGTH found n)
  set(${out} ${n} PARENT_SCOPE)
endfunction()

# --version
expect_run(0 ${PROJD} --version)
expect_contains("${LAST_OUT}" "projd ${VERSION}\n")
expect_run(0 ${PROJCTL} --version)
expect_contains("${LAST_OUT}" "projctl ${VERSION}\n")

# --help and -h: projd lists every flag it has.
foreach(flag --help -h)
  expect_usage(projd ${PROJD} ${flag})
  foreach(name --projections --data --listen --brokers --group --kafka-prop --auth --config
          --demo --demo-events --partitions --schema-registry --sync --max-event-bytes
          --log-format --insecure-listen-any --http-threads --http-max-connections --http-max-body-bytes
          --http-max-header-bytes --http-read-timeout-ms --http-idle-timeout-ms --version)
    expect_contains("${LAST_OUT}" "  ${name} ")
  endforeach()
endforeach()

# projctl: the top level lists every subcommand, and each has its own help.
set(subcommands check test diff explain status get history query rebuild dead-letters skip drop
    checksum snapshot trace watch restore help)
expect_usage(projctl ${PROJCTL} --help)
string(REGEX REPLACE ".*\nSubcommands:\n" "" listed "${LAST_OUT}")
string(REGEX REPLACE "\n\n.*" "" listed "${listed}")
string(REGEX MATCHALL "(^|\n)  [a-z-]+" listed "${listed}")
string(REGEX REPLACE "(^|\n)  " "" listed "${listed}")
if(NOT listed STREQUAL "${subcommands}")
  message(FATAL_ERROR "projctl --help lists the subcommands '${listed}', expected '${subcommands}'")
endif()
expect_usage(projctl ${PROJCTL} -h)
foreach(flag --server --token --timeout --version)
  expect_contains("${LAST_OUT}" "  ${flag}")
endforeach()
expect_usage(projctl ${PROJCTL} help)
foreach(sub ${subcommands})
  expect_usage("projctl ${sub}" ${PROJCTL} ${sub} --help)
  expect_usage("projctl ${sub}" ${PROJCTL} ${sub} -h)
  expect_usage("projctl ${sub}" ${PROJCTL} help ${sub})
endforeach()
# Help wins over missing arguments, wherever it stands.
expect_usage("projctl get" ${PROJCTL} get VIEW --help)
expect_usage("projctl query" ${PROJCTL} --server http://127.0.0.1:1 query -h)
# Each subcommand's help names its flags.
expect_run(0 ${PROJCTL} test --help)
foreach(flag --events --view --expect --schema)
  expect_contains("${LAST_OUT}" "  ${flag} ")
endforeach()
foreach(sub history dead-letters query)
  expect_run(0 ${PROJCTL} ${sub} --help)
  foreach(flag --json --limit --cursor --all)
    expect_contains("${LAST_OUT}" "  ${flag}")
  endforeach()
endforeach()
foreach(sub status get)
  expect_run(0 ${PROJCTL} ${sub} --help)
  expect_contains("${LAST_OUT}" "  --json")
endforeach()

# Usage errors: exit 2, the error names the flag or argument, nothing on stdout.
expect_usage_error("--bogus" ${PROJD} --bogus)
expect_usage_error("--bogus" ${PROJD} --demo --bogus=1)
# --help and --version do not hide an unknown flag beside them.
expect_usage_error("--bogus" ${PROJD} --bogus --version)
expect_usage_error("--bogus" ${PROJD} --help --bogus)
expect_usage_error("--bogus" ${PROJCTL} --version --bogus)
expect_usage_error("--bogus" ${PROJCTL} status --help --bogus)
expect_usage_error("stray" ${PROJD} --demo stray)
expect_usage_error("--listen" ${PROJD} --demo --listen)
expect_usage_error("--partitions" ${PROJD} --demo --partitions 0)
expect_usage_error("--sync" ${PROJD} --demo --sync=sometimes)
expect_usage_error("--s3-endpoint" ${PROJD} --demo --s3-endpoint notaurl)
expect_usage_error("--s3-endpoint" ${PROJD} --demo --s3-endpoint https://)
expect_usage_error("--kafka-prop" ${PROJD} --demo --kafka-prop novalue)
# A property librdkafka refuses stops projd at start (every view would fail).
expect_usage_error("kafka property bogus.prop: No such configuration property"
                   ${PROJD} --demo --kafka-prop bogus.prop=1)
expect_usage_error("kafka property security.protocol: Invalid value"
                   ${PROJD} --demo --kafka-prop security.protocol=nonsense)
expect_usage_error("--projections and --data are required" ${PROJD} --data ${TMP}/unused)
expect_usage_error("missing.toml" ${PROJD} --config ${TMP}/missing.toml)
expect_usage_error("A subcommand is required" ${PROJCTL})
expect_usage_error("--bogus" ${PROJCTL} --bogus status)
expect_usage_error("--bogus" ${PROJCTL} status --bogus)
expect_usage_error("--bogus" ${PROJCTL} test ${SRC}/projections/account_balance.proj --bogus)
expect_usage_error("--nope" ${PROJCTL} query from account_balance --nope)
expect_usage_error("frobnicate" ${PROJCTL} frobnicate)
expect_usage_error("KEY is required" ${PROJCTL} get account_balance)
expect_usage_error("extra" ${PROJCTL} skip account_balance extra)
expect_usage_error("--server" ${PROJCTL} --server)
expect_usage_error("--server" ${PROJCTL} status --server=ftp:nonsense)
expect_usage_error("--limit" ${PROJCTL} history v k --limit 0)
expect_usage_error("--limit" ${PROJCTL} dead-letters v --limit=many)
expect_usage_error("--file" ${PROJCTL} explain v k --events ${TMP}/e.jsonl)
expect_usage_error("--events" ${PROJCTL} test ${SRC}/projections/account_balance.proj)
expect_usage_error("--events" ${PROJCTL} diff a.proj b.proj)
# A malformed value is a usage error too (projd --help: "2 a usage error"), whatever the flag.
expect_usage_error("--listen wants HOST:PORT" ${PROJD} --demo --listen 127.0.0.1)
expect_usage_error("--listen wants HOST:PORT with a port" ${PROJD} --demo --listen 127.0.0.1:abc)
expect_usage_error("--listen wants HOST:PORT with a port" ${PROJD} --demo --listen=127.0.0.1:99999)
expect_usage_error("--listen wants HOST:PORT with a host: 127.0.0.1 for loopback, 0.0.0.0"
                   ${PROJD} --demo --listen :0)
expect_usage_error("an IP address or localhost" ${PROJD} --demo --listen nosuchhost.invalid:80)
expect_usage_error("--schema-registry wants http://" ${PROJD} --demo --schema-registry notaurl)
expect_usage_error("--archive wants file:///DIR or s3://BUCKET/PREFIX" ${PROJD} --demo
                   --archive bogus://x)
# A bad config file: exit 2 naming the file and the key as the file spells it. Numbers are TOML
# integers, everything else strings (but demo and insecure_listen_any: true or false).
function(expect_config_error needle text)
  file(WRITE ${TMP}/bad.toml "${text}\n")
  expect_usage_error("${TMP}/bad.toml: ${needle}" ${PROJD} --config ${TMP}/bad.toml)
  set(LAST_ERR "${LAST_ERR}" PARENT_SCOPE)
endfunction()
expect_config_error("listen wants a string" "listen = 8080")
expect_config_error("listen wants HOST:PORT" "listen = \"8080\"")
expect_config_error("projections wants a string" "projections = 5")
expect_config_error("partitions wants a whole number (no quotes), got a string" "partitions = \"4\"")
expect_config_error("demo_rate wants a whole number" "demo_rate = \"10\"")
expect_config_error("partitions wants 1..1024" "partitions = 0")
expect_config_error("max_event_bytes wants a whole number" "max_event_bytes = \"1MiB\"")
expect_lacks("${LAST_ERR}" "--max-event-bytes")
expect_config_error("max_event_bytes wants a positive number" "max_event_bytes = 0")
expect_config_error("sync wants full, batch or none" "sync = \"weird\"")
expect_config_error("unknown key 'bogus_key'" "bogus_key = 1")
expect_config_error("unknown table [weird]" "[weird]\nx = 1")
expect_config_error("demo wants true or false" "demo = \"yes\"")
expect_config_error("schema_registry wants http://" "schema_registry = \"notaurl\"")
expect_config_error("kafka_props.\"a.b\" wants a string" "[kafka_props]\n\"a.b\" = 5")
expect_config_error("max-event-bytes and max_event_bytes name the same setting"
                    "max_event_bytes = 10\nmax-event-bytes = 20")
# projctl: --timeout wants a positive number of seconds.
expect_usage_error("--timeout" ${PROJCTL} --timeout 0 status)
expect_usage_error("--timeout" ${PROJCTL} status --timeout=soon)
# explain's help says that only the offline mode shows the statements.
expect_run(0 ${PROJCTL} explain --help)
expect_contains("${LAST_OUT}" "but not the statements,\nwhich only the offline mode shows")

# A runtime failure is not a usage error: projd cannot be reached (exit 1).
expect_run(1 ${PROJCTL} --server http://127.0.0.1:1 status)
expect_contains("${LAST_ERR}" "cannot reach projd at 127.0.0.1:1")

# projd --demo from a config file (flags win over it: the file's bad listen gives way to --listen,
# localhost standing for 127.0.0.1, and its fetch.wait.max.ms to --kafka-prop's),
# with the example projections and one that keeps history. A watchdog stops it (SIGTERM) when
# this script ends, even when a check fails.
file(MAKE_DIRECTORY ${TMP}/projections)
file(GLOB examples ${SRC}/projections/*.proj)
file(COPY ${examples} DESTINATION ${TMP}/projections)
file(WRITE ${TMP}/projections/balance_history.proj [=[
projection balance_history {
  from "account-events"
  key event.account_id
  time event.ts
  on AccountOpened { owner = event.owner  balance = 0 }
  on Deposited, InterestPaid { balance += event.amount }
  on Withdrawn { balance -= event.amount }
  history all
}
]=])
file(WRITE ${TMP}/projd.toml "projections = \"${TMP}/projections\"\ndata = \"${TMP}/data\"\n"
     # Not a listen address: --listen below wins, so the file's value is not even judged.
     "listen = \"8080\"\n"
     # No live stream: the paging checks below need a view that holds still.
     "demo_rate = 0\n"
     # A value librdkafka refuses, which --kafka-prop below replaces (flags win over the file):
     # with it every view would fail, and no dead letter would come.
     "[kafka_props]\n\"fetch.wait.max.ms\" = \"abc\"\n")
execute_process(COMMAND sh -c
  "watch=$PPID; \"$0\" \"$@\" >'${TMP}/projd.log' 2>&1 & pid=$!; echo $pid >'${TMP}/projd.pid'; \
   (while kill -0 $watch && kill -0 $pid; do sleep 0.5; done; kill $pid) >/dev/null 2>&1 &"
  ${PROJD} --config ${TMP}/projd.toml --demo --demo-events=${SRC}/examples/banking-events.jsonl
  --listen=localhost:0 --partitions 2 --kafka-prop client.id=projd-cli-test
  --kafka-prop=client.rack=cli --kafka-prop fetch.wait.max.ms=100 RESULT_VARIABLE code)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "could not start projd")
endif()
file(READ ${TMP}/projd.pid pid)
string(STRIP "${pid}" pid)
set(url "")
foreach(i RANGE 300)
  file(READ ${TMP}/projd.log log)
  if(log MATCHES "HTTP API listening on (127\\.0\\.0\\.1:[0-9]+)")
    set(url "http://${CMAKE_MATCH_1}")
    break()
  endif()
  execute_process(COMMAND sh -c "kill -0 ${pid}" RESULT_VARIABLE alive)
  if(NOT alive EQUAL 0)
    message(FATAL_ERROR "projd exited:\n${log}")
  endif()
  execute_process(COMMAND sleep 0.1)
endforeach()
if(url STREQUAL "")
  message(FATAL_ERROR "projd did not listen within 30 s:\n${log}")
endif()
# Until the example events are in: the six malformed ones are dead letters of both views.
foreach(i RANGE 300)
  execute_process(COMMAND ${PROJCTL} --server ${url} dead-letters balance_history --all
                  OUTPUT_VARIABLE dl1 ERROR_QUIET)
  execute_process(COMMAND ${PROJCTL} --server ${url} dead-letters account_balance --all
                  OUTPUT_VARIABLE dl2 ERROR_QUIET)
  count_matches(n1 "\"reason\"" "${dl1}")
  count_matches(n2 "\"reason\"" "${dl2}")
  if(n1 GREATER_EQUAL 6 AND n2 GREATER_EQUAL 6)
    break()
  endif()
  execute_process(COMMAND sleep 0.1)
endforeach()
if(n1 LESS 6 OR n2 LESS 6)
  file(READ ${TMP}/projd.log log)
  message(FATAL_ERROR "the demo's dead letters did not show up within 30 s:\n${log}")
endif()

# Global flags before or after the subcommand, as --flag value or --flag=value; the server and
# token from the environment when no flag gives them.
foreach(args "--server;${url};status" "status;--server;${url}" "--server=${url};status"
        "status;--server=${url}" "--token;t;--server;${url};status" "status;--token=t;--server=${url}"
        "--server;${url};status;--token;t")
  expect_run(0 ${PROJCTL} ${args})
  expect_contains("${LAST_OUT}" "VIEW ")
  expect_contains("${LAST_OUT}" "balance_history ")
endforeach()
expect_run(0 ${CMAKE_COMMAND} -E env PROJD_SERVER=${url} PROJD_TOKEN=t ${PROJCTL} status)
expect_contains("${LAST_OUT}" "balance_history ")
expect_run(0 ${CMAKE_COMMAND} -E env PROJD_SERVER=http://127.0.0.1:1 ${PROJCTL} status
           --server ${url})

# A subcommand's flags before the subcommand, as --flag value or --flag=value, with the global
# ones around them.
expect_run(0 ${PROJCTL} --json --server ${url} status)
expect_contains("${LAST_OUT}" "\"views\": [")
expect_run(0 ${PROJCTL} --server=${url} --json --timeout 10 status)
expect_contains("${LAST_OUT}" "\"views\": [")
foreach(args "--limit;1;--server;${url};dead-letters;account_balance;--json"
        "--limit=1;--json;dead-letters;account_balance;--server=${url}"
        "--json;--server;${url};--limit;1;dead-letters;account_balance")
  expect_run(0 ${PROJCTL} ${args})
  count_matches(n "\"reason\"" "${LAST_OUT}")
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "projctl ${args}: ${n} dead letters, expected 1:\n${LAST_OUT}")
  endif()
endforeach()
expect_usage_error("--bogus" ${PROJCTL} --bogus --server ${url} status)
expect_usage_error("--limit" ${PROJCTL} --limit 0 --server ${url} dead-letters account_balance)

# --json: the API's answer.
expect_run(0 ${PROJCTL} status --json --server ${url})
expect_contains("${LAST_OUT}" "\"views\": [")
expect_contains("${LAST_OUT}" "\"name\": \"balance_history\"")
expect_run(0 ${PROJCTL} --server=${url} get account_balance acc-00001 --json)
expect_contains("${LAST_OUT}" "\"key\": \"acc-00001\"")
expect_contains("${LAST_OUT}" "\"row\": {")
expect_run(0 ${PROJCTL} get balance_history acc-00001 --as-of=2030-01-01T00:00:00Z --json
           --server ${url})
expect_contains("${LAST_OUT}" "\"as_of\": \"2030-01-01T00:00:00Z\"")
expect_run(1 ${PROJCTL} --server ${url} get account_balance no-such-key --json)

# history: one page of --limit, the next from --cursor, or --all of them as one answer.
expect_run(0 ${PROJCTL} history balance_history acc-00001 --json --limit 2 --server ${url})
expect_contains("${LAST_OUT}" "\"key\": \"acc-00001\"")
count_matches(n "\"version\": " "${LAST_OUT}")
if(NOT n EQUAL 2)
  message(FATAL_ERROR "history --limit 2 gave ${n} versions:\n${LAST_OUT}")
endif()
if(NOT LAST_OUT MATCHES "\"next_cursor\": \"([0-9]+)\"")
  message(FATAL_ERROR "history --limit 2: no next_cursor:\n${LAST_OUT}")
endif()
expect_run(0 ${PROJCTL} --server ${url} history balance_history acc-00001 --limit=1
           --cursor=${CMAKE_MATCH_1})
expect_contains("${LAST_OUT}" "\"version\": 3\n")
expect_lacks("${LAST_OUT}" "\"version\": 2\n")
expect_run(0 ${PROJCTL} history balance_history acc-00001 --limit 2 --all --json --server ${url})
expect_contains("${LAST_OUT}" "\"next_cursor\": null")
count_matches(n "\"version\": " "${LAST_OUT}")
if(n LESS 3)
  message(FATAL_ERROR "history --all gave ${n} versions:\n${LAST_OUT}")
endif()
foreach(v RANGE 1 ${n})
  expect_contains("${LAST_OUT}" "\"version\": ${v}\n")
endforeach()

# dead-letters: likewise.
expect_run(0 ${PROJCTL} --server ${url} dead-letters account_balance --json --limit 2)
count_matches(n "\"reason\"" "${LAST_OUT}")
if(NOT n EQUAL 2 OR NOT LAST_OUT MATCHES "\"next_cursor\": \"[0-9]+\"")
  message(FATAL_ERROR "dead-letters --limit 2: ${n} dead letters:\n${LAST_OUT}")
endif()
expect_run(0 ${PROJCTL} dead-letters account_balance --all --limit=2 --server=${url} --json)
expect_contains("${LAST_OUT}" "\"next_cursor\": null")
count_matches(n "\"reason\"" "${LAST_OUT}")
if(n LESS 6)
  message(FATAL_ERROR "dead-letters --all gave ${n} dead letters:\n${LAST_OUT}")
endif()

# query: a table with a hint for the next page, the JSON answer, or every page with --all.
expect_run(0 ${PROJCTL} --server ${url} query from account_balance --limit 2)
expect_contains("${LAST_OUT}" "(2 rows, scanned ")
expect_contains("${LAST_OUT}" "more rows: --cursor ")
string(REGEX MATCH "--cursor ([0-9a-f]+)" _ "${LAST_OUT}")
expect_run(0 ${PROJCTL} --server ${url} query "from account_balance" --limit 2 --json
           --cursor ${CMAKE_MATCH_1})
expect_contains("${LAST_OUT}" "\"key\": \"acc-")
expect_lacks("${LAST_OUT}" "\"key\": \"acc-00000\"")
expect_lacks("${LAST_OUT}" "\"key\": \"acc-00001\"")
expect_run(0 ${PROJCTL} query "from account_balance select count()" --json --server ${url})
string(REGEX MATCH "\"count\\(\\)\": ([0-9]+)" _ "${LAST_OUT}")
set(accounts ${CMAKE_MATCH_1})
expect_run(0 ${PROJCTL} query "from account_balance order by balance desc" --limit 7 --all
           --server ${url})
expect_contains("${LAST_OUT}" "(${accounts} rows, scanned ")
expect_lacks("${LAST_OUT}" "more rows")
expect_run(0 ${PROJCTL} query "from account_balance where balance > 0" --json --all --limit=5
           --server ${url})
expect_contains("${LAST_OUT}" "\"next_cursor\": null")
# --limit and the query's own limit clause: a usage error.
expect_run(2 ${PROJCTL} --server ${url} query "from account_balance limit 3" --limit 2)
expect_contains("${LAST_ERR}" "--limit")
expect_lacks("${LAST_ERR}" "400")  # refused before it is sent

# explain online: a row's kept versions; a row no event made exits 1, as offline.
expect_run(0 ${PROJCTL} --server ${url} explain balance_history acc-00001)
expect_contains("${LAST_OUT}" "row after: ")
expect_run(1 ${PROJCTL} --server ${url} explain balance_history no-such-key)
expect_contains("${LAST_ERR}" "no kept version of row no-such-key in view balance_history")

# rebuild --wait: exit 0 at the swap; exit 1 with the reason when the rebuild cannot reach it
# (large_movements has errors stop, and the demo's malformed events stop its rebuild).
expect_run(0 ${PROJCTL} --server ${url} rebuild account_balance --wait)
expect_contains("${LAST_OUT}" "rebuild of account_balance done")
execute_process(COMMAND ${PROJCTL} --server ${url} rebuild large_movements --wait TIMEOUT 60
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 1)
  message(FATAL_ERROR "rebuild large_movements --wait: exit ${code}, expected 1:\n${out}\n${err}")
endif()
expect_contains("${err}" "the rebuild of large_movements cannot go on; the view is failed")
expect_contains("${err}" "rebuild stopped at a bad event")

# --timeout: a server that takes the connection and never answers fails the request after it
# (exit 1), for a plain request, a streamed answer and watch alike.
execute_process(COMMAND sh -c "python3 -c \"import socket, time, os\ns = socket.socket()\n\
s.bind(('127.0.0.1', 0))\ns.listen(16)\nopen('${TMP}/silent.port', 'w').write(str(s.getsockname()[1]))\n\
time.sleep(120)\" >/dev/null 2>&1 & echo $! >'${TMP}/silent.pid'")
foreach(i RANGE 100)
  if(EXISTS ${TMP}/silent.port)
    file(READ ${TMP}/silent.port silent_port)
    if(NOT silent_port STREQUAL "")
      break()
    endif()
  endif()
  execute_process(COMMAND sleep 0.1)
endforeach()
foreach(args "--timeout;1;status" "status;--timeout=1" "--timeout=1;watch;v"
        "--timeout;1;snapshot;v;-o;${TMP}/silent.snapshot")
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${PROJCTL} --server http://127.0.0.1:${silent_port} ${args} TIMEOUT 20
                  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(TIMESTAMP t1 "%s")
  math(EXPR took "${t1} - ${t0}")
  if(NOT code EQUAL 1 OR took GREATER 5)
    message(FATAL_ERROR "projctl ${args} against a silent server: exit ${code} after ${took} s, "
                        "expected 1 after about 1 s:\n${err}")
  endif()
  expect_contains("${err}" "cannot reach projd at 127.0.0.1:${silent_port}")
endforeach()
file(READ ${TMP}/silent.pid silent_pid)
string(STRIP "${silent_pid}" silent_pid)
execute_process(COMMAND kill ${silent_pid})

# projd stops cleanly on SIGTERM.
execute_process(COMMAND sh -c "kill ${pid}; for i in $(seq 100); do kill -0 ${pid} 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
                RESULT_VARIABLE code)
file(READ ${TMP}/projd.log log)
if(NOT code EQUAL 0 OR NOT log MATCHES "info stopped")
  message(FATAL_ERROR "projd did not stop on SIGTERM:\n${log}")
endif()
