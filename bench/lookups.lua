-- wrk: walk a list of addresses from IPLIST; PREFIX is the path before the address.
local ips = {} for l in io.lines(os.getenv("IPLIST")) do ips[#ips+1] = l end
local prefix, i = os.getenv("PREFIX") or "/", 0
local auth = os.getenv("AUTH")
request = function()
  i = i % #ips + 1
  local headers = {}
  if auth then headers["Authorization"] = auth end
  return wrk.format("GET", prefix .. ips[i], headers)
end
