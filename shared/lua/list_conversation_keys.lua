-- Every conversation id that may still have keys: indexed (live or expired) or remembered in
-- the graveyard. The first step of erasing a user: the second declares all their keys.
-- KEYS: idx, exp, gy
-- ARGV: (none of its own)
-- Returns {quota (-2: erase_user counts the call), ids...}.
local result = {-2}
local seen = {}
for _, key in ipairs({K.idx, K.exp, K.gy}) do
  for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if not seen[id] then
      seen[id] = true
      result[#result + 1] = id
    end
  end
end
return result
