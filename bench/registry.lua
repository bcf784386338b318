-- wrk: cycle through the request paths in PATHS (one per line).
local paths = {} for l in io.lines(os.getenv("PATHS")) do paths[#paths+1] = l end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept"] = "application/json"})
end
