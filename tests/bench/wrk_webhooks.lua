-- wrk script of tests/bench/bench_ingest.py.
--   wrk ... -s wrk_webhooks.lua URL -- POOL_FILE THREADS   signed webhooks from a pool
--   wrk ... -s wrk_webhooks.lua URL                        wrk's own GET (the baseline)
-- A pool line is "<delivery id>\t<signature>\t<body>"; thread k of n sends lines k, k+n, ...
-- each once, so no delivery id repeats (a repeat would be a cheap duplicate, not work).
-- Prints one RESULT line that the Python side parses, with wrk's CPU time (os.clock, the
-- whole process) after the last thread loaded its pool and at the end, so the pool's
-- loading is not counted as wrk's work per request.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local cursor = 0
wraps = 0
loaded_cpu = 0
accepted = 0
duplicates = 0
other = 0

function init(args)
  if args[1] == nil then
    loaded_cpu = os.clock()
    return
  end
  local count = tonumber(args[2])
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % count == id then
      local delivery, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["X-ServiceDesk-Signature"] = signature,
        ["X-ServiceDesk-Delivery-Id"] = delivery,
      }, body)
    end
    line_number = line_number + 1
  end
  loaded_cpu = os.clock()
end

function request()
  if #requests == 0 then
    return wrk.request()
  end
  cursor = cursor + 1
  if cursor > #requests then
    cursor = 1
    wraps = wraps + 1
  end
  return requests[cursor]
end

function response(status, headers, body)
  if status == 202 then
    if body:find('"duplicate":true', 1, true) then
      duplicates = duplicates + 1
    else
      accepted = accepted + 1
    end
  elseif status ~= 200 then
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = { wraps = 0, accepted = 0, duplicates = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local loaded = 0
  for _, thread in ipairs(threads) do
    loaded = math.max(loaded, thread:get("loaded_cpu"))
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d accepted=%d "
      .. "duplicates=%d other=%d wraps=%d socket_errors=%d run_cpu_us=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, totals.accepted, totals.duplicates, totals.other, totals.wraps,
    errors.connect + errors.read + errors.write + errors.timeout,
    (os.clock() - loaded) * 1000000))
end
