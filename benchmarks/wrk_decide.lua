-- wrk script for bench_service.py: POST one JSON body with a unique X-Request-ID.
--
--   wrk -t1 -c8 -d10s --latency -s benchmarks/wrk_decide.lua URL -- BODY_FILE KEY PREFIX
--
-- BODY_FILE holds the request body (the example application as JSON); KEY is the API
-- key sent as "Authorization: Bearer KEY" ("-" sends none); PREFIX makes the request
-- ids of this run unique: "PREFIX-<thread>-<n>". At the end one line
-- "WRK_JSON {...}" gives the exact counts and latency percentiles (microseconds).

local threads = {}
counter = 0  -- a global, so done() can read it with thread:get
local prefix = "r"
local body, key

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  key = args[2]
  prefix = args[3] .. "-" .. tostring(tid)
  wrk.method = "POST"
  wrk.body = body
end

function request()
  counter = counter + 1
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = "application/json",
    ["X-Request-ID"] = prefix .. "-" .. counter,
  }
  if key ~= "-" then
    headers["Authorization"] = "Bearer " .. key
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local sent = 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("counter") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"built":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout, sent,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
