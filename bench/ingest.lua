-- wrk script for bench/ingest.sh: POST with a unique body per request and a bearer token.
--   env BKR_BENCH_TOKEN (required for the service), BKR_BENCH_PATH (default /api/backup-requests),
--       BKR_BENCH_TAG (a prefix of every backupDataLocation, to find a run's requests),
--       BKR_BENCH_RATE (requests/s for the whole run: each thread sends on a fixed schedule instead of as fast
--       as its connections allow; needs enough connections to keep up with the schedule),
--       BKR_BENCH_THREADS (wrk -t, needed with BKR_BENCH_RATE)
-- done() prints one machine-readable line starting with WRK.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bkr_bench_timespec;
int clock_gettime(int clock_id, bkr_bench_timespec* tp);
]]
local threads = {}
local clock_buf = ffi.new("bkr_bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(1, clock_buf) -- CLOCK_MONOTONIC
  return tonumber(clock_buf.tv_sec) * 1000 + tonumber(clock_buf.tv_nsec) / 1e6
end

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  tag = os.getenv("BKR_BENCH_TAG") or "bench"
  local rate = tonumber(os.getenv("BKR_BENCH_RATE") or "")
  if rate and rate > 0 then
    -- Each thread owns 1/threads of the rate: its requests go out at fixed slots, whatever the answers' latency.
    interval_ms = (tonumber(os.getenv("BKR_BENCH_THREADS") or "") or 1) * 1000 / rate
    next_slot_ms = nil
  end
  wrk.method = "POST"
  wrk.path = os.getenv("BKR_BENCH_PATH") or "/api/backup-requests"
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("BKR_BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function delay()
  if not interval_ms then
    return 0
  end
  local now = now_ms()
  if not next_slot_ms then
    next_slot_ms = now
  end
  local slot = next_slot_ms
  next_slot_ms = next_slot_ms + interval_ms
  return math.max(0, slot - now)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"apiVersion":"2022-05-22","backupJobId":"demo-local","dataDate":"2026-01-15","backupDataLocation":"/%s/%d/%d"}',
    tag, thread_number, counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d " ..
    "timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
