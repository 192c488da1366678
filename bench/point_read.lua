-- wrk script: GET random rows of the by_event view (keys e-00000000 .. e-00999999).
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/v1/views/by_event/rows/e-%08d", math.random(0, 999999)))
end
