-- The answer kept for a request's Idempotency-Key (K.idem): read here; kept by remember
-- (answers.lua) for a user's writes and by anonymous_signup.lua for a sign-up.
-- uses: none

-- How long an answer is kept for its Idempotency-Key (24 hours, the IETF draft's advice).
local IDEMPOTENCY_MS = 86400000

-- How long an answer is kept for a re-send of a request that sent no Idempotency-Key (under
-- an id of its own): far past the longest a call may take (the function's timeout).
local RESENT_MS = 300000

-- The answer stored for this request's Idempotency-Key ('idem' in KEYS; A.idem_fp, the
-- request's fingerprint, '' when it sent none): nil when there is none, 'mismatch' when the
-- key was used for another request. An answer is stored as '<fingerprint>\n<JSON>'.
local function recall()
  if A.idem_fp == '' then return nil end
  local stored = redis.call('GET', K.idem)
  if not stored then return nil end
  local newline = string.find(stored, '\n', 1, true)
  if string.sub(stored, 1, newline - 1) ~= A.idem_fp then return 'mismatch' end
  return cjson.decode(string.sub(stored, newline + 1))
end
