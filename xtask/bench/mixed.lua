-- wrk script of `cargo xtask soak`: requests cycle through four outcomes of
-- the built-in default profiles (200, 401 without a token, 404, 409), and
-- each thread counts the statuses it receives. `done` prints one
-- `status CODE COUNT` line per status for the soak to check.
-- Arguments (after `--`): the bearer token.

local token = ""
local counter = 0
statuses = {}

local base = "/beta/education/synchronizationProfiles/"
local ready = base .. "9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1/uploadUrl"
local unknown = base .. "00000000-0000-4000-8000-000000000000/uploadUrl"
local in_progress = base .. "5d3e2c1b-7a64-4b2f-8c90-3e1f6a7b8c02/uploadUrl"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
end

function request()
  counter = counter + 1
  local kind = counter % 4
  local authorization = { Authorization = "Bearer " .. token }
  if kind == 0 then
    return wrk.format("GET", ready, authorization)
  elseif kind == 1 then
    return wrk.format("GET", ready, {})
  elseif kind == 2 then
    return wrk.format("GET", unknown, authorization)
  else
    return wrk.format("GET", in_progress, authorization)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
