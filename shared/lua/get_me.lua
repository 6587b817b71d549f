-- The user's counts and totals (kept up to date by every write) and current conversation.
-- KEYS: exp, sum
-- ARGV: if_none_match (the entity tag the caller holds, '' for none)
-- The entity tag is the list version and whether the current-conversation pointer has lapsed
-- (it lapses with time alone); Python adds the expiry period (conversations expire with time).
-- Returns {quota, 'not_modified'} when the tag is still `if_none_match`, else {quota, 'ok',
--   tag, conversation count, message total, token total, current id or false}.
-- Conversations that have expired but are still counted are subtracted, not removed.
-- uses: core, user, expiry
local S = read_user()
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local current = current_conversation(S)
local tag = (S['#lv'] or '0') .. (current and '' or (S['#cur'] and 'x' or ''))
if tag == A.if_none_match then
  finish_read(S, quota)
  return {quota, 'not_modified'}
end
local count, messages, tokens = num(S['#c']), num(S['#m']), num(S['#k'])
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
return {quota, 'ok', tag, count, messages, tokens, current}
