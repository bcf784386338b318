-- wrk: uniformly random addresses from IPLIST through every lookup dialect in turn
-- (MaxMind country/city/insights, DB-IP, QRadar, ipintel's own API).
local ips = {} for l in io.lines(os.getenv("IPLIST")) do ips[#ips+1] = l end
local key, auth = os.getenv("KEY"), os.getenv("AUTH")
local n = 0
math.randomseed(tonumber(os.getenv("SEED") or "7"))
request = function()
  n = n + 1
  local ip = ips[math.random(#ips)]
  local kind = n % 6
  if kind == 0 then
    return wrk.format("GET", "/geoip/v2.1/city/" .. ip, {["Authorization"] = auth})
  elseif kind == 1 then
    return wrk.format("GET", "/geoip/v2.1/country/" .. ip, {["Authorization"] = auth})
  elseif kind == 2 then
    return wrk.format("GET", "/geoip/v2.1/insights/" .. ip, {["Authorization"] = auth})
  elseif kind == 3 then
    return wrk.format("GET", "/v2/" .. key .. "/" .. ip, {})
  elseif kind == 4 then
    return wrk.format("GET", "/api/services/geolocations?filter=ip_address%3D%22" .. ip .. "%22", {["SEC"] = key})
  else
    return wrk.format("GET", "/v1/ip/" .. ip, {["X-API-Key"] = key})
  end
end
