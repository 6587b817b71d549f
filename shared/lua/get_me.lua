-- The user's counts and totals (kept up to date by every write) and current conversation.
-- KEYS: exp, sum
-- ARGV: (none of its own)
-- Returns {quota, conversation count, message total, token total, current id or false}.
-- Conversations that have expired but are still counted are subtracted, not removed.
local S = read_user()
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local count, messages, tokens = num(S['#c']), num(S['#m']), num(S['#k'])
local current = current_conversation(S)
local expired = expired_ids()
if #expired > 0 then
  local fields = {}
  for _, id in ipairs(expired) do append_all(fields, attr_fields({'w', 'n', 'k'}, id)) end
  local E = hmget(K.sum, fields)
  for _, id in ipairs(expired) do
    if E['w|' .. id] then
      count = count - 1
      messages = messages - num(E['n|' .. id])
      tokens = tokens - num(E['k|' .. id])
    end
    if id == current then current = false end
  end
end
finish_read(S, quota)
return {quota, count, messages, tokens, current}
