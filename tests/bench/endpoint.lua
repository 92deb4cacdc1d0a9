-- endpoint.lua - wrk script: one chatsync endpoint, a random seeded user per request.
--
--   BENCH_ENDPOINT=list|get|delta|append BENCH_USERS=users.tsv wrk -s endpoint.lua URL
--
-- users.tsv (written by run.sh): user, token, long chat (50 messages), chat to
-- append to, delta cursor; one line per data user. Each request carries that
-- user's real token. done() (wrk_report.lua) prints one JSON line for run.sh.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

local endpoint = os.getenv("BENCH_ENDPOINT") or "list"
local users_file = os.getenv("BENCH_USERS")
local append_body = '{"content":"Could you summarise the trade-offs of the approach above in three short bullet points, please?","role":"user"}'
local users = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_no", counter)
end

function init(args)
   for line in io.lines(users_file) do
      local user, token, long_chat, append_chat, cursor =
         line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
      if user then
         users[#users + 1] = {
            auth = "Bearer " .. token, long_chat = long_chat,
            append_chat = append_chat, cursor = cursor,
         }
      end
   end
   if #users == 0 then error("no users in " .. tostring(users_file)) end
   math.randomseed(os.time() * 100 + (thread_no or 0))
end

function request()
   local u = users[math.random(#users)]
   if endpoint == "list" then
      return wrk.format("GET", "/api/chats", { Authorization = u.auth })
   elseif endpoint == "get" then
      return wrk.format("GET", "/api/chats/" .. u.long_chat, { Authorization = u.auth })
   elseif endpoint == "delta" then
      return wrk.format("GET", "/api/sync?limit=20&cursor=" .. u.cursor, { Authorization = u.auth })
   elseif endpoint == "append" then
      return wrk.format("POST", "/api/chats/" .. u.append_chat .. "/messages",
                        { Authorization = u.auth, ["Content-Type"] = "application/json" },
                        append_body)
   end
   error("unknown BENCH_ENDPOINT " .. endpoint)
end
