-- What erasing a user must name: every conversation that may still have keys.
-- uses: none

-- Every conversation of the user that may still have keys: indexed (live or expired) or
-- remembered in the graveyard, each once (erasing a user names all their keys).
local function conversations_with_keys()
  local ids, seen = {}, {}
  for _, key in ipairs({K.idx, K.exp, K.gy}) do
    for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      if not seen[id] then
        seen[id] = true
        ids[#ids + 1] = id
      end
    end
  end
  return ids
end
