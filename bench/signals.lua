-- wrk script: POST one signal per request for tenant "load-<thread>", alternating 80 and 10
-- so that every signal changes the governor (Stable <-> Warn) and appends a receipt that must
-- be fdatasync'ed before the answer. Timestamps advance 1 ms per request (no duplicates).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  counter = 0
end

request = function()
  counter = counter + 1
  local value = (counter % 2 == 0) and 10 or 80
  local ts = 1790000000000 + counter
  local body = string.format('{"tenant":"load-%d","metric":"cpu","value":%d,"ts_ms":%d}', thread_id, value, ts)
  return wrk.format("POST", "/v1/signals", {["Content-Type"] = "application/json"}, body)
end
