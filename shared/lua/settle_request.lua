-- Settle a write whose answer never came back: every attempt may have reached Upstash, and
-- none answered. When a run of it was applied, answer what that run answered; when none was,
-- keep a refusal under its id, so that an attempt still on its way finds it and writes nothing
-- (start_write): either way the caller learns for certain what happened.
-- KEYS: sum
-- ARGV: (the user arguments only; A.rid names the request)
-- Returns {-2, 'applied', the applied run's answer} or CANCELLED, {-2, 'cancelled'} (not
--   applied, and now never will be).
-- uses: core, user, answers
local S = read_user()
local kept = resent_answer(S)
if kept then return {-2, 'applied', kept} end
keep_answer(S, CANCELLED)
if not S['#e'] then  -- (this made the summary hash)
  hset(K.sum, '#e', A.expire_at)
  expire_later({K.sum})
end
flush()
send_expiries()
return CANCELLED
