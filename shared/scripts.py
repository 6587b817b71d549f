"""The Lua scripts behind every API call: each runs as one atomic EVALSHA, one HTTP request.

Conventions shared by every script (see ``shared/keys.py`` for the layout):
- KEYS[1..3] are the user's index, expiry and summary keys; conversation keys come after.
- ARGV[1] is the caller's clock in ms, ARGV[2] the instant at or before which a conversation's
  last write means it has expired ('' when nothing expires), ARGV[3] the absolute expiry to set
  on every key written ('' for none), ARGV[4] the user's key base, from which the keys of
  conversations found in the index are derived (all under the user's hash tag).
- Scripts never parse JSON: values are stored as the fragments Python produced, so what the
  client sent reads back unchanged.
- Outcomes the client must hear about (not found, precondition failed) are returned, not raised:
  a raised error means the store failed.
"""

from __future__ import annotations

from shared.upstash import Script

# Summary attributes kept per conversation in the user's summary hash, as "<attr>|<id>".
SUMMARY_ATTRS = ("t", "c", "u", "n", "k", "p", "v")
# Message attributes kept per message in the conversation's message hash, as "<attr>|<id>".
MESSAGE_ATTRS = ("t", "ts", "c", "s", "k", "e")
# How many expired conversations one call clears at most; the rest are filtered, then cleared
# by later calls, so no call pays for a long absence all at once.
PURGE_BATCH = 100
# Lua's unpack() is bounded by its C stack (a few thousand values): bulk writes go in chunks.
CHUNK = 1000

_PRELUDE = f"""
local IDX, EXP, SUM = KEYS[1], KEYS[2], KEYS[3]
local NOW, EXPIRED_BEFORE, EXPIRE_AT, BASE = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local SUMMARY_ATTRS = {{'{"', '".join(SUMMARY_ATTRS)}'}}
local MESSAGE_ATTRS = {{'{"', '".join(MESSAGE_ATTRS)}'}}

local function summary_fields(cid)
  local fields = {{}}
  for i, attr in ipairs(SUMMARY_ATTRS) do fields[i] = attr .. '|' .. cid end
  return fields
end

-- Remove one conversation entirely and take its counts off the user's totals.
local function drop(cid)
  local counts = redis.call('HMGET', SUM, 'n|' .. cid, 'k|' .. cid)
  local n, k = tonumber(counts[1]) or 0, tonumber(counts[2]) or 0
  if n ~= 0 then redis.call('HINCRBY', SUM, '#m', -n) end
  if k ~= 0 then redis.call('HINCRBY', SUM, '#k', -k) end
  redis.call('HDEL', SUM, unpack(summary_fields(cid)))
  redis.call('ZREM', IDX, cid)
  redis.call('ZREM', EXP, cid)
  redis.call('DEL', BASE .. 'm:' .. cid, BASE .. 'o:' .. cid)
end

-- Clear up to {PURGE_BATCH} expired conversations; returns true when there may be more.
local function purge_expired()
  if EXPIRED_BEFORE == '' then return false end
  local ids = redis.call('ZRANGEBYSCORE', EXP, '-inf', EXPIRED_BEFORE, 'LIMIT', 0, {PURGE_BATCH})
  for _, cid in ipairs(ids) do drop(cid) end
  return #ids == {PURGE_BATCH}
end

-- The conversation's last write, or nil when it is absent or expired (then it is cleared).
local function live(cid)
  local written = redis.call('ZSCORE', EXP, cid)
  if not written then return nil end
  if EXPIRED_BEFORE ~= '' and tonumber(written) <= tonumber(EXPIRED_BEFORE) then
    drop(cid)
    return nil
  end
  return written
end

local function touch(...)
  if EXPIRE_AT == '' then return end
  for _, key in ipairs({{...}}) do redis.call('PEXPIREAT', key, EXPIRE_AT) end
end
"""


def _script(name: str, body: str) -> Script:
    return Script(name, _PRELUDE + body)


# ARGV[5] limit, ARGV[6] cursor score ('' for the first page), ARGV[7] cursor id.
# Returns {ids-with-scores (up to limit+1 pairs), summary values (limit * #SUMMARY_ATTRS)}.
LIST_CONVERSATIONS = _script(
    "list_conversations",
    """
local limit = tonumber(ARGV[5])
local more_expired = purge_expired()
local page = {}
if ARGV[6] == '' then
  page = redis.call('ZREVRANGE', IDX, 0, limit, 'WITHSCORES')
else
  -- Same-millisecond neighbours of the cursor first (reverse id order, as ZREVRANGE sorts
  -- them), then everything strictly older: a page never repeats or skips a conversation.
  local score, after = ARGV[6], ARGV[7]
  for _, cid in ipairs(redis.call('ZREVRANGEBYSCORE', IDX, score, score)) do
    if cid < after and #page < 2 * (limit + 1) then
      page[#page + 1] = cid
      page[#page + 1] = score
    end
  end
  local wanted = limit + 1 - #page / 2
  if wanted > 0 then
    local older = redis.call('ZREVRANGEBYSCORE', IDX, '(' .. score, '-inf', 'WITHSCORES',
      'LIMIT', 0, wanted)
    for _, v in ipairs(older) do page[#page + 1] = v end
  end
end
if more_expired then
  -- This call did not clear every expired conversation: keep the rest out of the page.
  local kept = {}
  for i = 1, #page, 2 do
    local written = redis.call('ZSCORE', EXP, page[i])
    if written and tonumber(written) > tonumber(EXPIRED_BEFORE) then
      kept[#kept + 1] = page[i]
      kept[#kept + 1] = page[i + 1]
    end
  end
  page = kept
end
local fields = {}
for i = 1, math.min(#page, 2 * limit), 2 do
  for _, f in ipairs(summary_fields(page[i])) do fields[#fields + 1] = f end
end
local values = {}
if #fields > 0 then values = redis.call('HMGET', SUM, unpack(fields)) end
return {page, values}
""",
)

# KEYS[4] message hash, KEYS[5] message order. ARGV[5] conversation id, ARGV[6] limit,
# ARGV[7] exclusive upper sequence bound ('' for the newest page).
# Returns {0} when absent, else {1, summary values, ids-with-seqs (up to limit+1 pairs),
# message values (limit * #MESSAGE_ATTRS), newest-first}.
GET_CONVERSATION = _script(
    "get_conversation",
    """
local cid, limit = ARGV[5], tonumber(ARGV[6])
if not live(cid) then return {0} end
local summary = redis.call('HMGET', SUM, unpack(summary_fields(cid)))
local upper = '+inf'
if ARGV[7] ~= '' then upper = '(' .. ARGV[7] end
local page = redis.call('ZREVRANGEBYSCORE', KEYS[5], upper, '-inf', 'WITHSCORES',
  'LIMIT', 0, limit + 1)
local fields = {}
for i = 1, math.min(#page, 2 * limit), 2 do
  for _, attr in ipairs(MESSAGE_ATTRS) do fields[#fields + 1] = attr .. '|' .. page[i] end
end
local values = {}
if #fields > 0 then values = redis.call('HMGET', KEYS[4], unpack(fields)) end
return {1, summary, page, values}
""",
)

# KEYS[4] message hash, KEYS[5] message order.
# ARGV[5] id, [6] updatedAt score, [7] If-Match ('' none, '*' any version, else a version),
# [8] If-None-Match ('' or '*'), [9] conversation cap, [10] title, [11] createdAt,
# [12] updatedAt, [13] totalTokens, [14] message count, [15] mcpServers JSON ('' when absent),
# [16] F, the number of message-hash arguments that follow (fields and values alternating),
# then the N message ids in order.
# Returns {'precondition_failed'} or {'ok', created 1/0, version, evicted ids...}.
PUT_CONVERSATION = _script(
    "put_conversation",
    f"""
local cid, cap = ARGV[5], tonumber(ARGV[9])
purge_expired()
local exists = live(cid) ~= nil
local version = 0
if exists then version = tonumber(redis.call('HGET', SUM, 'v|' .. cid)) or 0 end
local if_match, if_none_match = ARGV[7], ARGV[8]
if (if_match == '*' and not exists)
  or (if_match ~= '' and if_match ~= '*' and (not exists or tostring(version) ~= if_match))
  or (if_none_match == '*' and exists) then
  return {{'precondition_failed'}}
end

local n_new, k_new = tonumber(ARGV[14]), tonumber(ARGV[13])
local n_old, k_old = 0, 0
if exists then
  local counts = redis.call('HMGET', SUM, 'n|' .. cid, 'k|' .. cid)
  n_old, k_old = tonumber(counts[1]) or 0, tonumber(counts[2]) or 0
end

local M, O = KEYS[4], KEYS[5]
redis.call('DEL', M, O)
local nvals = tonumber(ARGV[16])
local first, last = 17, 16 + nvals
for i = first, last, {CHUNK} do
  redis.call('HSET', M, unpack(ARGV, i, math.min(i + {CHUNK} - 1, last)))
end
redis.call('HSET', M, '#seq', n_new)
local ids_first = last + 1
for i = ids_first, #ARGV, {CHUNK} do
  local batch = {{}}
  for j = i, math.min(i + {CHUNK} - 1, #ARGV) do
    batch[#batch + 1] = j - ids_first + 1
    batch[#batch + 1] = ARGV[j]
  end
  redis.call('ZADD', O, unpack(batch))
end

version = version + 1
redis.call('HSET', SUM, 't|' .. cid, ARGV[10], 'c|' .. cid, ARGV[11], 'u|' .. cid, ARGV[12],
  'k|' .. cid, k_new, 'n|' .. cid, n_new, 'v|' .. cid, version)
if ARGV[15] == '' then
  redis.call('HDEL', SUM, 'p|' .. cid)
else
  redis.call('HSET', SUM, 'p|' .. cid, ARGV[15])
end
if n_new ~= n_old then redis.call('HINCRBY', SUM, '#m', n_new - n_old) end
if k_new ~= k_old then redis.call('HINCRBY', SUM, '#k', k_new - k_old) end
redis.call('ZADD', IDX, ARGV[6], cid)
redis.call('ZADD', EXP, NOW, cid)

local result = {{'ok', exists and 0 or 1, version}}
local over = redis.call('ZCARD', IDX) - cap
if over > 0 then
  -- Least recently updated first; never the conversation this call just wrote.
  for _, victim in ipairs(redis.call('ZRANGE', IDX, 0, over)) do
    if over > 0 and victim ~= cid then
      drop(victim)
      result[#result + 1] = victim
      over = over - 1
    end
  end
end
touch(IDX, EXP, SUM, M, O)
return result
""",
)

# ARGV[5] conversation id. Returns 1 when deleted, 0 when there was nothing to delete.
DELETE_CONVERSATION = _script(
    "delete_conversation",
    """
local cid = ARGV[5]
purge_expired()
if not live(cid) then return 0 end
drop(cid)
touch(IDX, EXP, SUM)
return 1
""",
)
