-- Delete a conversation and all its messages.
-- KEYS: idx, exp, sum, gy, msgs, order
-- ARGV: cid
-- Returns {quota, 1} when deleted, {quota, 0} when there was nothing to delete.
local cid = A.cid
local S = read_user(attr_fields(SUMMARY, cid))
local quota = rate_limit(S)
if quota == -1 then return {-1} end
if not is_live(S, cid) then
  finish_read(S, quota)
  return {quota, 0}
end

-- Nothing below refuses the call. Conversations that have expired go at the same time.
local removed = expired_ids()
read_for_drop(S, removed)
removed[#removed + 1] = cid
local dropped_messages, dropped_tokens = drop_conversations(S, removed, cid)
redis.call('DEL', K.msgs, K.order)
local count = num(S['#c']) - #removed
hset(K.sum, '#c', count)
hset(K.sum, '#m', math.max(0, num(S['#m']) - dropped_messages))
if dropped_tokens ~= 0 then hset(K.sum, '#k', math.max(0, num(S['#k']) - dropped_tokens)) end
local expire = user_expiry(S, count, false)
flush()
apply_expiry(expire)
return {quota, 1}
