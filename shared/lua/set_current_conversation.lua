-- Point the user's session at a conversation, or clear the pointer.
-- KEYS: idx, exp, sum, chg, tb (the feed's keys: their expiry moves on with the others'),
--   idem, ik (see recall/remember in lib/)
-- ARGV: cid ('' to clear), until_ms (when the pointer lapses; '' never)
-- Returns {quota}.
-- uses: core, user, expiry, answers
local S = read_user()
local quota, early = start_write(S)
if early then return early end
if A.cid == '' then
  hdel(K.sum, '#cur')
  hdel(K.sum, '#curx')
else
  hset(K.sum, '#cur', A.cid)
  hset(K.sum, '#curx', A.until_ms)
end
bump_list(S)
user_expiry(S, num(S['#c']))
local result = remember(S, {quota})
flush()
send_expiries()
return result
