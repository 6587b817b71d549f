-- Append one message, creating the conversation when absent; a retry changes nothing.
-- KEYS: idx, exp, sum, gy, msgs, order
-- ARGV: cid, mid, type, content, title (for a first user message; '' otherwise),
--   default_title, tokens, max_messages, cap, then REST: the message's field/value pairs
-- Returns {quota, 'duplicate', message (see read_messages)} for a retry, {quota, 'conflict'},
--   {quota, 'too_many'}, or {quota, 'created', conversation created 1/0, evicted ids...}.
local cid, mid = A.cid, A.mid
local S = read_user(attr_fields(SUMMARY, cid))
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local exists = is_live(S, cid)
local M = {}
if exists then M = hmget(K.msgs, {'t|' .. mid, 'c|' .. mid, '#seq'}) end
if M['t|' .. mid] then
  if M['t|' .. mid] == A.type and M['c|' .. mid] == A.content then
    local message = read_messages(K.msgs, {mid})
    finish_read(S, quota)
    return {quota, 'duplicate', message}
  end
  finish_read(S, quota)
  return {quota, 'conflict'}
end
if exists and num(S['n|' .. cid]) >= tonumber(A.max_messages) then
  finish_read(S, quota)
  return {quota, 'too_many'}
end

-- Nothing below refuses the call. Plan what expiry and the cap remove, then write.
local expired = expired_ids()
local gone = {}
for _, id in ipairs(expired) do gone[id] = true end
local count = num(S['#c']) - #expired
local victims = {}
if not exists then
  count = count + 1
  victims = eviction_victims(count - tonumber(A.cap), gone, cid)
  count = count - #victims
end
local removed = append_all(append_all({}, expired), victims)
read_for_drop(S, removed)
local fresh_index = num(S['#c']) - #removed == 0
local dropped_messages, dropped_tokens = drop_conversations(S, removed, (not exists) and cid or nil)

local seq = num(M['#seq']) + 1
if not exists then
  -- A conversation of this id that was deleted, evicted or expired may have left keys behind.
  redis.call('DEL', K.msgs, K.order)
  seq = 1
  for _, attr in ipairs(SUMMARY) do S[attr .. '|' .. cid] = nil end
  hset(K.sum, 'c|' .. cid, A.now_iso)
  hset(K.sum, 'k|' .. cid, 0)
  hdel(K.sum, 'p|' .. cid)
  if A.title ~= '' then
    hset(K.sum, 't|' .. cid, A.title)
    hdel(K.sum, 'a|' .. cid)
  else
    hset(K.sum, 't|' .. cid, A.default_title)
    hset(K.sum, 'a|' .. cid, 1)
  end
elseif A.title ~= '' and S['a|' .. cid] then
  hset(K.sum, 't|' .. cid, A.title)
  hdel(K.sum, 'a|' .. cid)
end
for i = REST, #ARGV, 2 do hset(K.msgs, ARGV[i], ARGV[i + 1]) end
hset(K.msgs, '#seq', seq)
redis.call('ZADD', K.order, seq, mid)

local tokens = tonumber(A.tokens)
hset(K.sum, 'n|' .. cid, num(S['n|' .. cid]) + 1)
if tokens ~= 0 then hset(K.sum, 'k|' .. cid, num(S['k|' .. cid]) + tokens) end
hset(K.sum, '#m', num(S['#m']) + 1 - dropped_messages)
if tokens ~= 0 or dropped_tokens ~= 0 then
  hset(K.sum, '#k', num(S['#k']) + tokens - dropped_tokens)
end
if count ~= num(S['#c']) then hset(K.sum, '#c', count) end
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso)
local expire = user_expiry(S, count, fresh_index)
flush()
if expire_conversation or not exists then append_all(expire, {K.msgs, K.order}) end
apply_expiry(expire)

local result = {quota, 'created', exists and 0 or 1}
return append_all(result, victims)
