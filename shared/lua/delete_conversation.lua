-- Delete a conversation and all its messages.
-- KEYS: idx, exp, sum, gy, chg, tb, msgs, order, idem, ik (see recall/remember in lib/)
-- ARGV: cid, if_match ('' none, else a version)
-- Returns {quota, 'deleted'}, {quota, 'not_found'} when there was nothing to delete, or
--   {quota, 'precondition_failed', current version}. The deletion leaves a tombstone in the
--   change feed, and no later write brings the conversation back unless it says so.
-- With push on, a success answers {that answer, connections, extra} (lib/push.lua),
--   extra {the version it had, plus one}.
-- uses: core, user, expiry, records, answers, conversations, push
local cid = A.cid
local S = read_user(attr_fields(SUMMARY, cid))
local quota, early = start_write(S)
if early then return early end
local refused = refuse_missing_or_stale(S, quota, cid)
if refused then return refused end

-- Nothing below refuses the call. Conversations that have expired go at the same time.
local removed = expired_ids()
read_for_drop(S, removed)
removed[#removed + 1] = cid
local kinds = {[cid] = 'deleted'}
for _, id in ipairs(removed) do kinds[id] = kinds[id] or 'expired' end
local dropped_messages, dropped_tokens = drop_conversations(S, removed, kinds, cid)
redis.call('DEL', K.msgs, K.order)
local count = num(S['#c']) - #removed
hset(K.sum, '#c', count)
hset(K.sum, '#m', math.max(0, num(S['#m']) - dropped_messages))
if dropped_tokens ~= 0 then hset(K.sum, '#k', math.max(0, num(S['#k']) - dropped_tokens)) end
user_expiry(S, count)
local result = remember(S, {quota, 'deleted'})
flush()
send_expiries()
return with_connections(result, {num(S['v|' .. cid]) + 1})
