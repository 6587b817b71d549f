-- A WebSocket connection of the user (docs/sync.md, "Live pushes"), kept in K.ws: field the
-- connection id, value its entry, JSON {"e": when it lapses (ms), "t": when its token expires
-- (ms, 0: never), "c": when it connected (ms), "w": the conversation ids it watches, one space
-- between each}. An entry lapses at the soonest of its token's expiry, its connection's two
-- hours (max_ms) and, when nothing comes from the socket, API Gateway's idle limit (idle_ms):
-- every frame moves that on. The hash's own expiry is its last entry's. API Gateway's frames
-- and disconnects name only the connection: K.owner (a string, the user id) says whose it is,
-- kept as long as its entry.
-- KEYS: ws, owner (of connection cid)
-- ARGV: op ('connect', 'frame', 'remove'), user (the user id), cid (the connection id), token_expires (ms, 0:
--   never), max_ms, idle_ms, watch ('-' to keep what it watches, else the ids, one space
--   between each), cap (connections kept per user: over it, the one lapsing first goes), then
--   REST: more connection ids to remove (with 'remove')
-- Returns {-2, 'ok', watched ids} (connect, frame), {-2, 'gone'} for a frame from a connection
--   not registered (or lapsed), {-2, 'expired'} for one whose token expired (removed now), or
--   {-2, 'removed'}.
-- uses: none
local now = tonumber(A.now)
local all = redis.call('HGETALL', K.ws)
local entries, order, dead = {}, {}, {}
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry.e <= now then
    dead[#dead + 1] = all[i]
  else
    entries[all[i]] = entry
    order[#order + 1] = all[i]
  end
end
local answer = nil
if A.op == 'remove' then
  local removing = {A.cid}
  for i = REST, #ARGV do removing[#removing + 1] = ARGV[i] end
  for _, id in ipairs(removing) do
    if entries[id] then
      entries[id] = nil
      dead[#dead + 1] = id
    end
  end
  redis.call('DEL', K.owner)
  answer = {-2, 'removed'}
else
  local entry = entries[A.cid]
  if A.op == 'connect' then
    entry = {t = tonumber(A.token_expires), c = now, w = ''}
    if not entries[A.cid] then order[#order + 1] = A.cid end
  elseif not entry then
    answer = {-2, 'gone'}
  elseif entry.t ~= 0 and entry.t <= now then
    entries[A.cid] = nil
    dead[#dead + 1] = A.cid
    answer = {-2, 'expired'}
  end
  if answer then redis.call('DEL', K.owner) end
  if not answer then
    local lapses = math.min(entry.c + tonumber(A.max_ms), now + tonumber(A.idle_ms))
    if entry.t ~= 0 then lapses = math.min(lapses, entry.t) end
    entry.e = lapses
    if A.watch ~= '-' then entry.w = A.watch end
    entries[A.cid] = entry
    -- Over the cap, the connections lapsing first make room (a tab long closed, most likely).
    local live = {}
    for _, id in ipairs(order) do
      if entries[id] then live[#live + 1] = id end
    end
    table.sort(live, function(a, b) return entries[a].e < entries[b].e end)
    for i = 1, #live - tonumber(A.cap) do
      if live[i] ~= A.cid then
        entries[live[i]] = nil
        dead[#dead + 1] = live[i]
      end
    end
    redis.call('HSET', K.ws, A.cid, cjson.encode(entry))
    redis.call('SET', K.owner, A.user, 'PXAT', lapses)
    answer = {-2, 'ok', entry.w}
  end
end
if #dead > 0 then redis.call('HDEL', K.ws, unpack(dead)) end
local last = 0
for _, entry in pairs(entries) do last = math.max(last, entry.e) end
if last > 0 then redis.call('PEXPIREAT', K.ws, last) end
return answer
