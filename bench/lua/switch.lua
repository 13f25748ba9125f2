-- The org switch: POST /switch with the session's CSRF token, flipping between two orgs.
-- Every switch revokes the session id and issues a new token, so each wrk thread is one
-- user on one connection and follows the Set-Cookie of each answer (run with -c == -t).
-- Usage: wrk ... -s switch.lua URL -- SLUG_A SLUG_B COOKIE CSRF [COOKIE CSRF ...]
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

local counter, threads = 0, {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local slugs, csrf, flip = {}, nil, 0
switched, refused, cookie, pair = 0, 0, nil, 0

function init(args)
  slugs = { args[1], args[2] }
  pair = (id - 1) % ((#args - 2) / 2)
  cookie, csrf = args[3 + 2 * pair], args[4 + 2 * pair]
end

function request()
  flip = 3 - (flip == 0 and 2 or flip)
  local body = "csrf_token=" .. csrf .. "&slug=" .. slugs[flip] .. "&next="
  return wrk.format("POST", "/switch", {
    ["Cookie"] = "tenantdesk_session=" .. cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

function response(status, headers, body)
  if status == 303 then
    switched = switched + 1
  else
    refused = refused + 1
  end
  local set = headers["Set-Cookie"] or headers["set-cookie"]
  local value = set and set:match("tenantdesk_session=([^;]+)")
  if value then cookie = value end
end

function done(summary, latency, requests)
  -- Each user's latest token goes back to the caller: the next run starts from it.
  local ok, bad, latest = 0, 0, {}
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("switched")
    bad = bad + thread:get("refused")
    table.insert(latest, string.format('[%d, "%s"]', thread:get("pair"), thread:get("cookie")))
  end
  report.done(summary, latency, string.format('{"switched": %d, "refused": %d, "cookies": [%s]}',
    ok, bad, table.concat(latest, ", ")))
end
