-- wrk script: POST one signal per request for tenant "load-<thread>", alternating a high
-- reading (75..89: Stable -> Warn) and a low one (0..14: Warn -> Stable) so that every signal
-- changes the governor and appends a receipt that must be fdatasync'ed before the answer.
--
-- Timestamps: the sidecar refuses a reading stamped more than 60 s before the receiver's clock
-- (or more than 1 h after it), so they start at the current time. Every signal id (tenant,
-- metric, 5 s window, value) is distinct, so none is a duplicate: each window holds 15
-- high/low pairs per metric on all 7 metrics (210 requests), then the stamp moves on one
-- window. That runs ahead of the clock (210 requests per thread per 5 s window), staying
-- inside the 1 h bound for 151 200 requests per thread, far more than a 10 s run sends.
--
-- `wrk ... -s bench/signals.lua -- N [K]` sends N signals per request as a JSON array (default
-- 1), for tenants "load-<K + thread>" (default K = 0: a second run on the same sidecar takes
-- another K so that its signal ids do not repeat the first run's).
local metrics = {"cpu", "memory", "latency", "error_rate", "disk", "network", "connections"}
local batch = 1
local counter = 0
local thread_id = 0
local base_ms = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  counter = 0
  batch = tonumber(args[1] or "1") or 1
  thread_id = id + (tonumber(args[2] or "0") or 0)
  -- The start of the current 5 s window, Unix ms.
  base_ms = math.floor(os.time() / 5) * 5000
end

local function next_signal()
  local pair = math.floor(counter / 2)
  local high = counter % 2 == 0
  counter = counter + 1
  local slot = pair % 105
  local window = math.floor(pair / 105)
  local metric = metrics[(slot % 7) + 1]
  local step = math.floor(slot / 7)
  local value = high and (75 + step) or step
  local ts = base_ms + window * 5000 + (counter % 5000)
  return string.format('{"tenant":"load-%d","metric":"%s","value":%d,"ts_ms":%d}',
    thread_id, metric, value, ts)
end

request = function()
  local body
  if batch == 1 then
    body = next_signal()
  else
    local parts = {}
    for i = 1, batch do parts[i] = next_signal() end
    body = "[" .. table.concat(parts, ",") .. "]"
  end
  return wrk.format("POST", "/v1/signals", {["Content-Type"] = "application/json"}, body)
end
