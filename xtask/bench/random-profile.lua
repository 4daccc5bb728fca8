-- wrk script of `cargo xtask bench --growth`: each request is for the
-- upload URL of a profile drawn at random from the N profiles of the file
-- that the bench generated, whose ids are
-- {i:08x}-0000-4000-8000-{i:012x} for i in 0..N.
-- Arguments (after `--`): N.

local count = 1

function init(args)
  count = tonumber(args[1])
  math.randomseed(count)
end

function request()
  local i = math.random(0, count - 1)
  local path = string.format(
    "/beta/education/synchronizationProfiles/%08x-0000-4000-8000-%012x/uploadUrl", i, i)
  return wrk.format("GET", path)
end
