-- Conversations expire by their write epoch ('w|<id>' in the summary hash, and the expiry index
-- K.exp): whether one is live, which have expired, and the expiry of the user's own keys.
-- uses: core

-- Whether conversation `id` exists and has not expired, by its write epoch in `S`.
local function is_live(S, id)
  local epoch = S['w|' .. id]
  if not epoch then return false end
  return A.expired_before == '' or tonumber(epoch) > tonumber(A.expired_before)
end

-- Conversations whose write epoch says they have expired (all of them: at most the cap).
local function expired_ids()
  if A.expired_before == '' then return {} end
  return redis.call('ZRANGEBYSCORE', K.exp, '-inf', A.expired_before)
end

-- Before the flush: when the user's rounded expiry moved on, record it and queue the user's
-- keys that hold something for it. `count` is the number of index entries after the call.
-- (Keys this call creates are queued where they are created, whatever '#e' says.)
local function user_expiry(S, count)
  if S['#e'] == A.expire_at then return end
  hset(K.sum, '#e', A.expire_at)
  expire_later({K.sum})
  if count > 0 then expire_later({K.idx, K.exp}) end
  -- (A script that cannot change the feed does not declare its keys.)
  if K.chg and num(S['#fseq']) > 0 then expire_later({K.chg}) end
  if K.tb and num(S['#tc']) > 0 then expire_later({K.tb}) end
end
