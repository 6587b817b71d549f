-- Replace (or create) a whole conversation, with preconditions on its version.
-- KEYS: idx, exp, sum, gy, chg, tb, msgs, order, idem, ik (see recall/remember in lib/)
-- ARGV: cap, if_match ('' none, '*' any version, else a version), if_none_match ('' or '*':
--   the conversation must not exist; also what brings back one the user deleted), then REST:
--   the conversation's record (see write_conversation in lib/conversations.lua)
-- Returns {quota, 'precondition_failed', current version}, {quota, 'deleted'}, or {quota,
--   'ok', created 1/0, version, evicted ids...}.
-- Push (lib/push.lua): KEYS ws, ARGV push; with push on, a success answers {that answer,
--   connections, extra}; no extra.
-- uses: core, user, expiry, records, feed, answers, conversations, push
local cid = ARGV[REST]
local S = read_user(attr_fields(SUMMARY, cid))
local quota, early = start_write(S)
if early then return early end
local exists = is_live(S, cid)
local version = exists and num(S['v|' .. cid]) or 0
local if_match, if_none_match = A.if_match, A.if_none_match
if (if_match == '*' and not exists)
  or (if_match ~= '' and if_match ~= '*' and (not exists or tostring(version) ~= if_match))
  or (if_none_match == '*' and exists) then
  finish_read(S, quota)
  return {quota, 'precondition_failed', version}
end
if not exists and is_deleted(S, cid) and if_none_match ~= '*' then
  finish_read(S, quota)
  return {quota, 'deleted'}
end

-- Nothing below refuses the call. Plan what expiry and the cap remove, then write.
local removed, kinds, victims, count = plan_removals(S, cid, exists)
local dropped_messages, dropped_tokens = drop_conversations(S, removed, kinds, cid)
local old_messages, old_tokens = 0, 0
if exists then old_messages, old_tokens = num(S['n|' .. cid]), num(S['k|' .. cid]) end
if not exists then
  for _, attr in ipairs(SUMMARY) do
    if attr ~= 'x' then S[attr .. '|' .. cid] = nil end
  end
end
write_conversation(S, REST, K.msgs, K.order)
local messages, tokens = tonumber(ARGV[REST + 6]), tonumber(ARGV[REST + 5])
hset(K.sum, '#m', math.max(0, num(S['#m']) - dropped_messages - old_messages + messages))
hset(K.sum, '#k', math.max(0, num(S['#k']) - dropped_tokens - old_tokens + tokens))
if count ~= num(S['#c']) then hset(K.sum, '#c', count) end
user_expiry(S, count)
local result = remember(S, append_all({quota, 'ok', exists and 0 or 1, version + 1}, victims))
flush()
send_expiries()
return with_connections(result)
