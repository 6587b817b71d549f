-- Delete every key of the user: the summary hash (rate-limit windows and session included),
-- the indexes, the graveyard, the change feed, and every conversation's keys, declared here.
-- The next write starts a new feed generation: cursors from before are answered 410.
-- KEYS: idx, exp, sum, gy, chg, tb, ik, then KREST: the message hash and message order of each
--   conversation, then the kept Idempotency-Key answers
-- ARGV: REST: the ids of those conversations (list_conversation_keys)
-- Returns {quota, 'retry', ids...} when a conversation appeared since the ids were listed
-- (nothing is deleted: call again with these ids), else {quota, 'erased', index entries}.
-- uses: core, user, erasure
local S = read_user()
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local declared = {}
for i = REST, #ARGV do declared[ARGV[i]] = true end
local missing = false
local ids = conversations_with_keys()
for _, id in ipairs(ids) do
  if not declared[id] then missing = true end
end
if missing then
  finish_read(S, quota)
  local result = {quota, 'retry'}
  return append_all(result, ids)
end

-- Nothing below refuses the call.
local keys = {K.exp, K.sum, K.chg, K.tb, K.gy, K.ik}
for i = KREST, #KEYS do keys[#keys + 1] = KEYS[i] end
chunked('DEL', K.idx, keys)
return {quota, 'erased', num(S['#c'])}
