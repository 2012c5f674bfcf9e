-- wrk script for bench/ingest.sh: POST with a unique body per request and a bearer token.
--   env BKR_BENCH_TOKEN (required for the service), BKR_BENCH_PATH (default /api/backup-requests)
-- done() prints one machine-readable line starting with WRK.
local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.path = os.getenv("BKR_BENCH_PATH") or "/api/backup-requests"
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("BKR_BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"apiVersion":"2022-05-22","backupJobId":"demo-local","dataDate":"2026-01-15","backupDataLocation":"/bench/%d/%d"}',
    thread_number, counter)
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
