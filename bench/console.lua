-- wrk: the console's address page for each address of IPLIST, with the session COOKIE.
-- DELAY_MS > 0 paces each connection (a random pause of 0.5x to 1.5x DELAY_MS before each
-- request, so connections do not fire in step): connections x 1000 / DELAY_MS is the
-- offered rate, less the time each answer takes.
local ips = {} for l in io.lines(os.getenv("IPLIST")) do ips[#ips+1] = l end
local cookie = os.getenv("COOKIE")
local pause = tonumber(os.getenv("DELAY_MS") or "0")
local i = 0
math.randomseed(os.time())
request = function()
  i = i % #ips + 1
  return wrk.format("GET", "/ui/ip/" .. ips[i], { ["Cookie"] = cookie })
end
if pause > 0 then
  delay = function() return math.random(math.floor(pause / 2), math.floor(pause * 3 / 2)) end
end
