-- Delete one message and take it off the conversation's and the user's totals.
-- KEYS: idx, exp, sum, chg, tb, msgs, order, idem, ik (see recall/remember in lib/)
-- ARGV: cid, mid, if_match ('' none, else a version)
-- Returns {quota, 'deleted', version}, {quota, 'not_found'} when there was no such message, or
--   {quota, 'precondition_failed', current version}.
-- Push (lib/push.lua): KEYS ws, ARGV push; with push on, a success answers {that answer,
--   connections, extra}; no extra.
-- uses: core, user, expiry, records, answers, conversations, push
local cid, mid = A.cid, A.mid
local S = read_user({'n|' .. cid, 'k|' .. cid, 'v|' .. cid, 'w|' .. cid, 'e|' .. cid,
  'sz|' .. cid, 'x|' .. cid})
local quota, early = start_write(S)
if early then return early end
local M = {}
if is_live(S, cid) then
  M = hmget(K.msgs, {'t|' .. mid, 'kt|' .. mid, 'xo|' .. mid, 'j|' .. mid})
end
if not M['t|' .. mid] then
  finish_read(S, quota)
  return {quota, 'not_found'}
end
local version = num(S['v|' .. cid])
if stale_version(version) then
  finish_read(S, quota)
  return {quota, 'precondition_failed', version}
end

-- Nothing below refuses the call.
redis.call('ZREM', K.order, mid)
for _, field in ipairs(attr_fields(MESSAGE, mid)) do hdel(K.msgs, field) end
for _, field in ipairs(attr_fields(MESSAGE_BOOKKEEPING, mid)) do hdel(K.msgs, field) end
for _, field in ipairs(attr_fields(MESSAGE_BODY, mid)) do hdel(K.msgs, field) end
for tid in string.gmatch(M['xo|' .. mid] or '', '%S+') do
  hdel(K.msgs, 'x|' .. mid .. '|' .. tid)
end
local tokens = num(M['kt|' .. mid])
hset(K.sum, 'n|' .. cid, math.max(0, num(S['n|' .. cid]) - 1))
hset(K.sum, '#m', math.max(0, num(S['#m']) - 1))
if tokens ~= 0 then
  hset(K.sum, 'k|' .. cid, math.max(0, num(S['k|' .. cid]) - tokens))
  hset(K.sum, '#k', math.max(0, num(S['#k']) - tokens))
end
hset(K.sum, 'sz|' .. cid, math.max(0, num(S['sz|' .. cid]) - num(M['j|' .. mid])))
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso, true)
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, num(S['#c']))
local result = remember(S, {quota, 'deleted', version + 1})
flush()
send_expiries()
return with_connections(result)
