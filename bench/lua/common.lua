-- Shared by the load's wrk scripts. The generated script of each kind sets the global `config`
-- (deadline, report path, headers) and defines next_request() before loading this file;
-- next_request() answers {wire = <the request>, label = <what to log with its answer>}.
--
-- Every thread has one connection (wrk -t N -c N), so request() and response() strictly
-- alternate and `pending` is the one request on the wire. A request that got no answer (a
-- socket error, or a connection the server closed, which wrk 4.1 counts as no error) is sent
-- again as it was, and logged as "resend <label>". wrk also calls request() once on the first
-- thread before starting, to check it: that request is never sent, and its resend not logged.
-- A thread stops itself at its first answer past the deadline, so when wrk ends no request is
-- left half-done, and writes "end" last; a thread whose log lacks it was cut off.
--
-- Each thread logs one line per answer: status, sent and answered (CLOCK_MONOTONIC seconds,
-- timed here: wrk 4.1's own percentiles add made-up samples for coordinated omission), label.
-- The Python side reads the logs (wrk 4.1's thread:get cannot copy nested tables).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clock_id, load_timespec *time);
]]
local CLOCK_MONOTONIC = 1 -- the clock Python's time.monotonic() reads on Linux
local clock = ffi.new("load_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

function format(method, path, extra, body)
  local headers = {}
  for name, value in pairs(config.headers) do headers[name] = value end
  for name, value in pairs(extra or {}) do headers[name] = value end
  return wrk.format(method, path, headers, body)
end

-- Main state: number the threads.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

-- Thread state.
local pending, sent_at, log = nil, nil, nil
local trial_call = false

function init(args)
  log = assert(io.open(string.format("%s-%d.log", config.report_path, thread_number), "w"))
  trial_call = thread_number == 1
  if start_thread then start_thread() end
end

function request()
  if pending == nil then
    pending = next_request()
  elseif trial_call then
    trial_call = false
  else
    log:write("resend " .. pending.label .. "\n")
  end
  sent_at = now()
  return pending.wire
end

function response(status, headers, body)
  local answered = now()
  log:write(string.format("%d %.6f %.6f %s\n", status, sent_at, answered, pending.label))
  if on_answer then on_answer(status, pending) end
  pending = nil
  if answered >= config.deadline then
    log:write("end\n")
    log:close()
    wrk.thread:stop()
  end
end

-- Main state, after every thread ended: wrk's socket error counts.
function done(summary, latency, requests)
  local out = assert(io.open(config.report_path .. "-errors", "w"))
  local errors = summary.errors
  out:write(string.format("%d %d %d %d\n", errors.connect, errors.read, errors.write, errors.timeout))
  out:close()
end
