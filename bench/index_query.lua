-- wrk script: an index query (owner == one of ten owners, first 10 rows) per request.
local owners = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
math.randomseed(7)
request = function()
  local q = 'from by_event where owner == "' .. owners[math.random(1, 10)] .. '" select key, amount limit 10'
  return wrk.format("POST", "/v1/query", nil, q)
end
