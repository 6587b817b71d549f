-- The user's own fields in the summary hash: one HMGET of them starts most scripts, the user's
-- rate limit is checked against a window kept among them, and a read ends with finish_read.
-- uses: core, ratelimit

-- The user's own fields in the summary hash: conversation count (index entries, expired ones
-- not yet removed included), message and token totals, the expiry last applied to the user's
-- keys, the current conversation with the instant its pointer lapses ('' never), the most
-- recent conversation with its score and the index's lagging one (place_in_index), the change
-- feed's generation, last sequence number and floor (changes below it are forgotten), the
-- number of tombstones kept, and the list version (one more on every write a list or /api/me
-- could show).
local USER = {'#c', '#m', '#k', '#e', '#cur', '#curx', '#top', '#tops', '#topz', '#fid', '#fseq',
  '#ffl', '#tc', '#lv'}

-- One HMGET of the user's fields, the rate-limit window and `extra`: most scripts read
-- everything they need from the summary hash with this one command.
local function read_user(extra)
  local fields = {unpack(USER)}
  if A.rl_max ~= '0' then fields[#fields + 1] = A.rl_field end
  if A.rid ~= '' then
    fields[#fields + 1] = 'r|' .. A.rid
    fields[#fields + 1] = '#rr'
  end
  return hmget(K.sum, append_all(fields, extra or {}))
end

-- The user's limit for this call (requests, or streamed deltas): its window is a field of the
-- summary hash, so the check costs no command of its own: it is read with the user's fields
-- and written with the script's other summary writes. Returns what is left of the window, -1
-- when the call may not pass (nothing is written then), -2 when the limit is off.
local function rate_limit(S)
  local limit = tonumber(A.rl_max)
  if limit == 0 then return -2 end
  local remaining, state = sliding_window(S[A.rl_field], limit, tonumber(A.rl_window),
    tonumber(A.now))
  if remaining >= 0 then hset(K.sum, A.rl_field, state) end
  return remaining
end

-- The end of a script that wrote nothing but the rate-limit window: write it, and give the
-- summary hash an expiry when this created it.
local function finish_read(S, quota)
  if quota < 0 then return end
  if not S['#e'] then
    hset(K.sum, '#e', A.expire_at)
    expire_later({K.sum})
  end
  flush()
  send_expiries()
end

-- The current conversation pointer, unless it has lapsed.
local function current_conversation(S)
  local until_ms = S['#curx']
  if not S['#cur'] or (until_ms and until_ms ~= '' and tonumber(until_ms) <= tonumber(A.now)) then
    return false
  end
  return S['#cur']
end

-- One more on the list version: whatever a list page or /api/me shows may have changed.
local function bump_list(S)
  if S['#lv~'] then return end
  S['#lv~'] = true
  hset(K.sum, '#lv', num(S['#lv']) + 1)
end
