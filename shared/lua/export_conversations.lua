-- Whole conversations, every message included, for one page of an export (the page's ids come
-- from list_conversations, so that their keys can be declared here). Writes nothing.
-- KEYS: exp, sum, then KREST: the message hash and message order of each conversation
-- ARGV: REST: the conversation ids, in the page's order
-- Returns {quota (-2: the page's listing counted the call), current conversation id or false,
--   then per live conversation: {id, summary values, message ids in order, messages}}.
local ids = {unpack(ARGV, REST)}
local S = read_user(summary_fields(ids))
local current = current_conversation(S)
if current then
  for _, id in ipairs(expired_ids()) do
    if id == current then current = false end
  end
end
local result = {-2, current}
for i, id in ipairs(ids) do
  if is_live(S, id) then
    local msgs, order = KEYS[KREST + 2 * i - 2], KEYS[KREST + 2 * i - 1]
    local mids = redis.call('ZRANGE', order, 0, -1)
    result[#result + 1] = {id, values_of(S, attr_fields(SUMMARY, id)), mids,
      (read_messages(msgs, mids))}
  end
end
return result
