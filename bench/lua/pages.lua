-- GET one page as several signed-in users: each request carries the next user's session
-- cookie (from the real login form). Usage: wrk ... -s pages.lua URL -- PATH COOKIE...
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

local path, cookies, next_cookie = "/", {}, 0

function init(args)
  path = args[1]
  for i = 2, #args do cookies[#cookies + 1] = args[i] end
end

function request()
  next_cookie = next_cookie % #cookies + 1
  return wrk.format("GET", path, { ["Cookie"] = "tenantdesk_session=" .. cookies[next_cookie] })
end

function done(summary, latency, requests)
  report.done(summary, latency)
end
