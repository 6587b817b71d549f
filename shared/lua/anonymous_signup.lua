-- One anonymous sign-up from a client IP: its sliding window (the same decisions as the users'
-- limits and upstash-ratelimit's SlidingWindow), and what it answered its Idempotency-Key.
-- KEYS: window (the IP's window), idem (the IP's answer kept for the request's
--   Idempotency-Key or, when it sent none, for its own id)
-- ARGV: now; rl_max and rl_window: the limit (0: off) and its window in ms; idem_fp: the
--   request's fingerprint ('request' when it sent no key); rid: the request's own id when it
--   sent no key ('' when it did); user_id and iat: the token minted for it
-- Returns {quota, 'ok', user id, iat}: quota is what is left of the window (-2 when the limit is
--   off); the user id and iat are the minted token's, or those first answered under the key
--   (a retry, which is not counted again). {-1} when the window refuses the sign-up (nothing is
--   written) and {quota, 'idempotency_mismatch'} when the key came with another request.
-- uses: ratelimit, idempotency
local limit, window, now = tonumber(A.rl_max), tonumber(A.rl_window), tonumber(A.now)
local state = false
if limit > 0 then state = redis.call('GET', K.window) end
local kept = recall()
if kept then
  -- A retry: what is left of the window without counting it (-1 from the check: none).
  local quota = -2
  if limit > 0 then
    local remaining = sliding_window(state, limit, window, now)
    quota = remaining == -1 and 0 or remaining + 1
  end
  if kept == 'mismatch' then return {quota, 'idempotency_mismatch'} end
  return {quota, 'ok', kept[1], kept[2]}
end
local quota = -2
if limit > 0 then
  local remaining, counted = sliding_window(state, limit, window, now)
  if remaining < 0 then return {-1} end
  redis.call('SET', K.window, counted, 'PX', 2 * window + 1000)
  quota = remaining
end
if A.idem_fp ~= '' then
  -- The user id and iat re-sign to the same token; the token itself is not stored. Without a
  -- key, kept only as long as the Upstash client may re-send this very request.
  redis.call('SET', K.idem, A.idem_fp .. '\n' .. cjson.encode({A.user_id, A.iat}), 'PX',
    A.rid ~= '' and RESENT_MS or IDEMPOTENCY_MS)
end
return {quota, 'ok', A.user_id, A.iat}
