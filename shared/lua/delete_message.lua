-- Delete one message and take it off the conversation's and the user's totals.
-- KEYS: idx, exp, sum, msgs, order
-- ARGV: cid, mid
-- Returns {quota, 1} when deleted, {quota, 0} when there was no such message.
local cid, mid = A.cid, A.mid
local S = read_user({'n|' .. cid, 'k|' .. cid, 'v|' .. cid, 'w|' .. cid, 'e|' .. cid})
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local M = {}
if is_live(S, cid) then M = hmget(K.msgs, {'t|' .. mid, 'kt|' .. mid, 'xo|' .. mid}) end
if not M['t|' .. mid] then
  finish_read(S, quota)
  return {quota, 0}
end

-- Nothing below refuses the call.
redis.call('ZREM', K.order, mid)
for _, field in ipairs(attr_fields(MESSAGE, mid)) do hdel(K.msgs, field) end
for _, field in ipairs(attr_fields(MESSAGE_BOOKKEEPING, mid)) do hdel(K.msgs, field) end
hdel(K.msgs, 'c|' .. mid)
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
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso)
local expire = user_expiry(S, num(S['#c']), false)
flush()
if expire_conversation then append_all(expire, {K.msgs, K.order}) end
apply_expiry(expire)
return {quota, 1}
