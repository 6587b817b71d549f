-- Whole conversations, every message included, for one page of an export (the page's ids come
-- from list_conversations, so that their keys can be declared here). Writes nothing.
-- KEYS: exp, sum, then KREST: the message hash and message order of each conversation
-- ARGV: budget (JSON bytes of messages one response may carry), then REST: the conversation
--   ids, in the page's order
-- Returns {quota (-2: the page's listing counted the call), 'ok', current conversation id or false,
--   then per live conversation: {id, summary values, message ids in order, messages, the
--   sequence before which older messages were left out or false}}. A conversation too large
--   for the budget on its own (the page's first) carries its newest messages that fit.
-- uses: core, user, expiry, records
local ids = {}
for i = REST, #ARGV do ids[#ids + 1] = ARGV[i] end
local S = read_user(summary_fields(ids))
local current = current_conversation(S)
if current then
  for _, id in ipairs(expired_ids()) do
    if id == current then current = false end
  end
end
local result = {-2, 'ok', current}
local budget = tonumber(A.budget)
for i, id in ipairs(ids) do
  if is_live(S, id) then
    local msgs, order = KEYS[KREST + 2 * i - 2], KEYS[KREST + 2 * i - 1]
    local mids = redis.call('ZRANGE', order, 0, -1)
    local cut = false
    local messages
    if i == 1 and num(S['sz|' .. id]) > budget and #mids > 1 then
      -- The newest messages whose sizes fit the budget (at least one).
      local fields = {}
      for j = #mids, 1, -1 do fields[#fields + 1] = 'j|' .. mids[j] end
      local sizes = hmget(msgs, fields)
      local total, first = 0, #mids
      for j = #mids, 1, -1 do
        total = total + num(sizes['j|' .. mids[j]])
        if j < #mids and total > budget then break end
        first = j
      end
      local kept_ids = {}
      for j = first, #mids do kept_ids[#kept_ids + 1] = mids[j] end
      if first > 1 then cut = redis.call('ZSCORE', order, mids[first]) end
      mids = kept_ids
    end
    messages = read_messages(msgs, mids)
    result[#result + 1] = {id, values_of(S, attr_fields(SUMMARY, id)), mids, messages, cut}
  end
end
return result
