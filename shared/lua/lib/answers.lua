-- A write run again answers what its first run answered: how every write starts (start_write)
-- and keeps its answer (remember), with or without an Idempotency-Key.
-- uses: core, user, idempotency

-- A write sent without an Idempotency-Key carries an id of its own request (A.rid; '' for one
-- sent with a key, which has its own answer below, and for a write already safe to repeat).
-- The same request may reach Upstash again: the Upstash client re-sends it when the answer of
-- a script that ran was lost on its way back, and an attempt held up in the network may arrive
-- after its re-send. Either run after the first answers what the first answered and writes
-- nothing. The answer is kept in the summary hash as 'r|<rid>', read by the HMGET a write
-- starts with and written by the HSET it ends with: keeping it costs no command. '#rr' lists
-- the ids kept, each with when it may go ('<rid> <until ms>' pairs, oldest first).
-- The answer is kept RESENT_MS (idempotency.lua).

-- Answers past their time leave with the next HDEL the summary hash gets anyway, or, so that
-- one HDEL of their own is rare, once this many have piled up.
local RESENT_SWEEP = 16

-- What a request the API gave up on keeps instead of an answer (settle_request.lua): a run of
-- it that arrives later writes nothing.
local CANCELLED = {-2, 'cancelled'}

-- The answer the first run of this request gave, or nil.
local function resent_answer(S)
  if A.rid == '' then return nil end
  local kept = S['r|' .. A.rid]
  return kept and cjson.decode(kept)
end

-- Keep `result` for a run of this request that may still come (with the script's other
-- summary writes: call it before flush()), and let the answers past their time go.
local function keep_answer(S, result)
  local now = tonumber(A.now)
  local entries, due = {}, 0
  for rid, until_ms in string.gmatch(S['#rr'] or '', '(%S+) (%d+)') do
    entries[#entries + 1] = {rid, until_ms}
    if tonumber(until_ms) <= now then due = due + 1 end
  end
  local sweep = next(pending_for(K.sum).del) ~= nil or due >= RESENT_SWEEP
  local kept = {}
  for _, entry in ipairs(entries) do
    if sweep and tonumber(entry[2]) <= now then
      hdel(K.sum, 'r|' .. entry[1])
    else
      kept[#kept + 1] = entry[1] .. ' ' .. entry[2]
    end
  end
  kept[#kept + 1] = A.rid .. ' ' .. text_of(now + RESENT_MS)
  hset(K.sum, '#rr', table.concat(kept, ' '))
  hset(K.sum, 'r|' .. A.rid, cjson.encode(result))
end

-- Keep `result` (a successful answer) for a run of the same request that may come again: with
-- its Idempotency-Key when it sent one, listing the key in the user's index of them ('ik', by
-- expiry) so that erasing the user finds it (entries past their expiry leave the index here);
-- else under its own id (keep_answer: call this before flush()).
local function remember(S, result)
  if A.rid ~= '' then
    keep_answer(S, result)
    return result
  end
  if A.idem_fp == '' then return result end
  local until_ms = tonumber(A.now) + IDEMPOTENCY_MS
  redis.call('SET', K.idem, A.idem_fp .. '\n' .. cjson.encode(result), 'PX', IDEMPOTENCY_MS)
  redis.call('ZADD', K.ik, until_ms, K.idem)
  redis.call('ZREMRANGEBYSCORE', K.ik, '-inf', '(' .. A.now)
  redis.call('PEXPIREAT', K.ik, until_ms)
  return result
end

-- At the start of a write, after its rate limit: the answer to give instead of writing again,
-- or nil to go on.
local function replay(S, quota)
  local stored = recall()
  if not stored then return nil end
  finish_read(S, quota)
  if stored == 'mismatch' then return {quota, 'idempotency_mismatch'} end
  stored[1] = quota
  return stored
end

-- How every write starts once it has read `S`: the first run's answer when the same request ran
-- before, else its rate limit, then the answer kept for its Idempotency-Key. Returns the quota
-- and, when the script answers at once, that answer.
local function start_write(S)
  -- A request run again is not another request: the first run counted it.
  local resent = resent_answer(S)
  if resent then return resent[1], resent end
  local quota = rate_limit(S)
  if quota == -1 then return quota, {-1} end
  return quota, replay(S, quota)
end
