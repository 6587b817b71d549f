-- Store a localStorage dump: new conversations added, stored ones replaced only by a newer
-- updatedAt, and the per-user cap applied to the result. Importing twice changes nothing.
-- A conversation the user deleted is not brought back (rejected: 'deleted'), and one sent with
-- the version it was read at is written only while it is still at that version (rejected:
-- 'precondition_failed').
-- KEYS: idx, exp, sum, gy, chg, tb, idem, ik, then KREST: the message hash and message order
--   of each
--   record
-- ARGV: cap, current ('' to leave the pointer), until_ms (when it lapses; '' never),
--   records (how many, N), then REST: N versions ('' for none), then the N records, newest
--   first (see write_conversation)
-- Returns {quota, imported, updated, skipped, {evicted ids}, {rejected: id, reason, current
--   version, ...}}.
-- Push (lib/push.lua): KEYS ws, ARGV push; with push on, a success answers {that answer,
--   connections, extra}; extra: id, created 1/0, version of each conversation written.
-- uses: core, user, expiry, records, feed, answers, conversations, push
local records = {}
local n = tonumber(A.records)
local p = REST + n
for i = 1, n do
  records[i] = {id = ARGV[p], score = tonumber(ARGV[p + 1]), p = p, if_match = ARGV[REST + i - 1],
    msgs = KEYS[KREST + 2 * i - 2], order = KEYS[KREST + 2 * i - 1]}
  p = next_record(p)
end
local ids = {}
for i, r in ipairs(records) do ids[i] = r.id end
local S = read_user(summary_fields(ids))
local quota, early = start_write(S)
if early then return early end

-- Nothing below refuses the call. Plan first: what is replaced, added, skipped and evicted.
local expired = expired_ids()
local gone = {}
for _, id in ipairs(expired) do gone[id] = true end
local stored = {}
if #ids > 0 then
  local scores = {}
  for i = 1, #ids, CHUNK do
    append_all(scores, redis.call('ZMSCORE', K.idx, unpack(ids, i, math.min(i + CHUNK - 1, #ids))))
  end
  for i, r in ipairs(records) do
    if is_live(S, r.id) then stored[r.id] = top_score_of(S, r.id, tonumber(scores[i]) or 0) end
  end
end
local updated, skipped, fresh = {}, 0, {}
local rejected = {}
for _, r in ipairs(records) do
  local version = stored[r.id] and num(S['v|' .. r.id]) or 0
  if r.if_match ~= '' and tostring(version) ~= r.if_match then
    append_all(rejected, {r.id, 'precondition_failed', version})
    r.rejected = true
  elseif not stored[r.id] and is_deleted(S, r.id) then
    append_all(rejected, {r.id, 'deleted', 0})
    r.rejected = true
  elseif stored[r.id] then
    if r.score > stored[r.id] then updated[r.id] = r else skipped = skipped + 1 end
  else
    fresh[#fresh + 1] = r
  end
end
local count = num(S['#c']) - #expired + #fresh
local evicted, victims, not_written = {}, {}, {}
local over = count - tonumber(A.cap)
if over > 0 then
  -- The `over` least recently updated of what would be kept: stored conversations (at their
  -- new score when replaced) and new ones; a new one loses a tie.
  local candidates = {}
  local window = over + #expired
  for _ in pairs(updated) do window = window + 1 end
  local oldest = redis.call('ZRANGE', K.idx, 0, window, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    local id = oldest[i]
    if not gone[id] then
      local score = top_score_of(S, id, tonumber(oldest[i + 1]))
      if updated[id] then score = updated[id].score end
      candidates[#candidates + 1] = {id = id, score = score, new = false}
    end
  end
  for _, r in ipairs(fresh) do
    candidates[#candidates + 1] = {id = r.id, score = r.score, new = true}
  end
  table.sort(candidates, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    if a.new ~= b.new then return a.new end
    return a.id < b.id
  end)
  for i = 1, math.min(over, #candidates) do
    local c = candidates[i]
    evicted[#evicted + 1] = c.id
    if c.new then not_written[c.id] = true else victims[#victims + 1] = c.id end
    updated[c.id] = nil
  end
  count = count - #evicted
  -- Named newest first, as the records come.
  for i = 1, math.floor(#evicted / 2) do
    evicted[i], evicted[#evicted + 1 - i] = evicted[#evicted + 1 - i], evicted[i]
  end
end

local removed = append_all(append_all({}, expired), victims)
read_for_drop(S, removed)
local writing = {}
for _, r in ipairs(records) do
  if not r.rejected and (updated[r.id] or (not stored[r.id] and not not_written[r.id])) then
    writing[r.id] = true
  end
end
local kinds = {}
for _, id in ipairs(expired) do
  if not writing[id] then kinds[id] = 'expired' end
end
for _, id in ipairs(victims) do kinds[id] = 'evicted' end
local messages, tokens = drop_conversations(S, removed, kinds)
messages, tokens = -messages, -tokens
local imported, replaced = 0, 0
-- What a push says of each conversation written: id, created 1/0, its version now.
local written = {}
for _, r in ipairs(records) do
  local replace = updated[r.id] ~= nil
  if writing[r.id] then
    if replace then
      messages = messages - num(S['n|' .. r.id])
      tokens = tokens - num(S['k|' .. r.id])
      replaced = replaced + 1
    else
      for _, attr in ipairs(SUMMARY) do
        if attr ~= 'x' then S[attr .. '|' .. r.id] = nil end
      end
      imported = imported + 1
    end
    write_conversation(S, r.p, r.msgs, r.order)
    append_all(written, {r.id, replace and 0 or 1, pending_for(K.sum).set['v|' .. r.id]})
    messages = messages + tonumber(ARGV[r.p + 6])
    tokens = tokens + tonumber(ARGV[r.p + 5])
  end
end
if A.current ~= '' then
  hset(K.sum, '#cur', A.current)
  hset(K.sum, '#curx', A.until_ms)
end
if messages ~= 0 then hset(K.sum, '#m', math.max(0, num(S['#m']) + messages)) end
if tokens ~= 0 then hset(K.sum, '#k', math.max(0, num(S['#k']) + tokens)) end
if count ~= num(S['#c']) then hset(K.sum, '#c', count) end
user_expiry(S, count)
local result = remember(S, {quota, imported, replaced, skipped, evicted, rejected})
flush()
send_expiries()
return with_connections(result, written)
