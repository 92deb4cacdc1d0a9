-- wrk_report.lua - wrk's done() for the bench: one JSON line for run.sh.
-- Used alone for the plain loads (nginx, fcgi_hello: wrk's own static
-- request, no Lua per request) and loaded by endpoint.lua.
-- errors: socket errors, and every answer with status >= 400 (that is how
-- wrk counts; the services and nginx answer no 1xx and no 3xx here).

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"closed_loop_latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
