-- Append one message, creating the conversation when absent; a retry changes nothing.
-- KEYS: idx, exp, sum, gy, chg, tb, msgs, order, idem, ik (see recall/remember in lib/), ws
-- ARGV: cid, mid, type, content, title (for a first user message; '' otherwise),
--   default_title, tokens, max_messages, cap, if_match ('' none, '*' any, else a version),
--   revive ('1': the request may bring back a conversation the user deleted), streaming ('1'
--   when the message streams), size (its JSON size), then REST: its field/value pairs
-- Returns {quota, 'duplicate', version, message (see read_messages)} for a retry,
--   {quota, 'conflict'}, {quota, 'too_many'}, {quota, 'deleted'}, {quota,
--   'precondition_failed', current version}, or {quota, 'created', conversation created 1/0,
--   version, evicted ids...}.
-- With push on, a success answers {that answer, connections, extra} (lib/push.lua), no extra.
-- uses: core, user, expiry, records, feed, answers, conversations, push
local cid, mid = A.cid, A.mid
local S = read_user(attr_fields(SUMMARY, cid))
local quota, early = start_write(S)
if early then return early end
local exists = is_live(S, cid)
local version = exists and num(S['v|' .. cid]) or 0
if not exists and is_deleted(S, cid) and A.revive ~= '1' then
  finish_read(S, quota)
  return {quota, 'deleted'}
end
local M = {}
if exists then M = hmget(K.msgs, {'t|' .. mid, 'c|' .. mid, '#seq'}) end
if M['t|' .. mid] then
  if M['t|' .. mid] == A.type and M['c|' .. mid] == A.content then
    local message = read_messages(K.msgs, {mid})
    finish_read(S, quota)
    return {quota, 'duplicate', version, message}
  end
  finish_read(S, quota)
  return {quota, 'conflict'}
end
-- (A retry of an append that succeeded answers as it did, whatever version it was sent with.)
if (A.if_match == '*' and not exists) or stale_version(version) then
  finish_read(S, quota)
  return {quota, 'precondition_failed', version}
end
if exists and num(S['n|' .. cid]) >= tonumber(A.max_messages) then
  finish_read(S, quota)
  return {quota, 'too_many'}
end

-- Nothing below refuses the call. Plan what expiry and the cap remove, then write.
local removed, kinds, victims, count = plan_removals(S, cid, exists)
local dropped_messages, dropped_tokens = drop_conversations(S, removed, kinds,
  (not exists) and cid or nil)

local seq = num(M['#seq']) + 1
if not exists then
  -- A conversation of this id that was deleted, evicted or expired may have left keys behind.
  redis.call('DEL', K.msgs, K.order)
  expire_later({K.msgs, K.order})
  seq = 1
  for _, attr in ipairs(SUMMARY) do
    if attr ~= 'x' then S[attr .. '|' .. cid] = nil end
  end
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
-- The message count is the size of the message order: none, and this ZADD creates it.
if exists and num(S['n|' .. cid]) == 0 then expire_later({K.order}) end
for i = REST, #ARGV, 2 do hset(K.msgs, ARGV[i], ARGV[i + 1]) end
hset(K.msgs, '#seq', seq)
redis.call('ZADD', K.order, seq, mid)

local tokens = tonumber(A.tokens)
hset(K.sum, 'n|' .. cid, num(S['n|' .. cid]) + 1)
if tokens ~= 0 then hset(K.sum, 'k|' .. cid, total(num(S['k|' .. cid]) + tokens)) end
hset(K.sum, '#m', total(num(S['#m']) + 1 - dropped_messages))
if tokens ~= 0 or dropped_tokens ~= 0 then
  hset(K.sum, '#k', total(num(S['#k']) + tokens - dropped_tokens))
end
if count ~= num(S['#c']) then hset(K.sum, '#c', count) end
hset(K.sum, 'sz|' .. cid, num(S['sz|' .. cid]) + tonumber(A.size))
if A.streaming == '1' then hset(K.sum, 'sm|' .. cid, A.now) end
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso, true)
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, count)
local result = remember(S, append_all({quota, 'created', exists and 0 or 1, version + 1}, victims))
flush()
send_expiries()
return with_connections(result)
