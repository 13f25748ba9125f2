-- GET one path, with an Authorization: Bearer header when a token is given.
-- Usage: wrk ... -s bearer.lua URL -- PATH [TOKEN]
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

local path, headers = "/", {}

function init(args)
  path = args[1] or "/"
  if args[2] then headers["Authorization"] = "Bearer " .. args[2] end
end

function request()
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  report.done(summary, latency)
end
