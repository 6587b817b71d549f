-- What changed in the user's conversations since a feed cursor, oldest first: each changed
-- conversation once, as an upsert (its summary and version) or a tombstone (deleted, evicted
-- or expired, with when). A read costs the changes, not the history.
-- KEYS: exp, sum, chg
-- ARGV: fid (the cursor's feed generation, '0' for "from the start"), since (its sequence
--   number), expired_from (the write epoch after which conversations may have expired since
--   the cursor's time, '' when none can have), limit
-- Returns {quota, 'reset'} when the cursor is from another generation (the user was erased)
--   or older than the changes kept, else {quota, 'ok', generation, last sequence, {change,
--   ...}, 1 when more changes follow}; a change is {'upsert', id, sequence, summary values} or
--   {'tombstone', id, sequence, kind, when (ms)}.
-- uses: core, user, expiry, records
local S = read_user()
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local generation = S['#fid'] or '0'
local since = tonumber(A.since)
if (A.fid ~= '0' and A.fid ~= generation) or (A.fid == '0' and since ~= 0)
  or since < num(S['#ffl']) or since > num(S['#fseq']) then
  finish_read(S, quota)
  return {quota, 'reset'}
end
local limit = tonumber(A.limit)
local ttl = 0
if A.expired_before ~= '' then ttl = tonumber(A.now) - tonumber(A.expired_before) end

local got = redis.call('ZRANGEBYSCORE', K.chg, '(' .. A.since, '+inf', 'WITHSCORES',
  'LIMIT', 0, limit + 1)
local more = #got > 2 * limit
local ids, seqs = {}, {}
for i = 1, math.min(#got, 2 * limit), 2 do
  ids[#ids + 1] = got[i]
  seqs[#seqs + 1] = got[i + 1]
end
local changes = {}
local last = A.since
local seen = {}
if #ids > 0 then
  local C = hmget(K.sum, summary_fields(ids))
  for i, id in ipairs(ids) do
    seen[id] = true
    last = seqs[i]
    local tomb = C['x|' .. id]
    if tomb then
      local kind, when = string.match(tomb, '^(%a+) (%d+)$')
      changes[#changes + 1] = {'tombstone', id, seqs[i], kind, when}
    elseif is_live(C, id) then
      changes[#changes + 1] = {'upsert', id, seqs[i], values_of(C, attr_fields(SUMMARY, id))}
    else
      -- Expired, and not yet removed by a write: a tombstone all the same.
      changes[#changes + 1] = {'tombstone', id, seqs[i], 'expired',
        text_of(num(C['w|' .. id]) + ttl)}
    end
  end
end
if not more and A.expired_from ~= '' and A.expired_before ~= '' then
  -- Conversations that expired since the cursor's time without a write to tell of it.
  local expired = redis.call('ZRANGEBYSCORE', K.exp, '(' .. A.expired_from, A.expired_before,
    'WITHSCORES')
  for i = 1, #expired, 2 do
    local id = expired[i]
    if not seen[id] then
      changes[#changes + 1] = {'tombstone', id, last, 'expired',
        text_of(tonumber(expired[i + 1]) + ttl)}
    end
  end
end
finish_read(S, quota)
return {quota, 'ok', generation, last, changes, more and 1 or 0}
