"""The Lua scripts behind every API call: each runs as one atomic EVALSHA, one HTTP request.

Conventions shared by every script (see ``shared/keys.py`` for the layout):
- KEYS[1..4] are the user's index, expiry, summary and session keys; a conversation's message
  hash and order set follow as KEYS[5] and KEYS[6] where the script needs them.
- ARGV[1] is the caller's clock in ms, ARGV[2] the instant at or before which a conversation's
  last write means it has expired ('' when nothing expires), ARGV[3] the absolute expiry to set
  on every key written ('' for none), ARGV[4] the user's key base, from which the keys of
  conversations found in the index are derived (all under the user's hash tag), ARGV[5] the
  caller's clock as an ISO 8601 string, for ``updatedAt``. Script arguments start at ARGV[6].
- Scripts never parse JSON: values are stored as the fragments Python produced, so what the
  client sent reads back unchanged.
- Outcomes the client must hear about (not found, conflict, precondition failed) are returned,
  not raised: a raised error means the store failed.
- Every script reads or writes a constant number of fields, whatever the history's length;
  only PUT, which replaces a whole message list, writes in proportion to what it is given.
"""

from __future__ import annotations

from shared.upstash import Script

# Summary attributes kept per conversation in the user's summary hash, as "<attr>|<id>":
# title, createdAt, updatedAt, message count, total tokens, mcpServers JSON, version, and
# "a", set while the title is the default one a first user message should replace.
SUMMARY_ATTRS = ("t", "c", "u", "n", "k", "p", "v", "a")
# Message attributes read per message from the conversation's message hash, "<attr>|<id>":
# type, timestamp, content, streaming, tokens JSON, editable, last update (ms), interrupted,
# and the space-separated ids of its tool executions (each kept as "x|<message>|<tool>").
MESSAGE_ATTRS = ("t", "ts", "c", "s", "k", "e", "u", "i", "xo")
# Written but not read back: token total, content length, last streamed delta's sequence.
MESSAGE_BOOKKEEPING = ("kt", "l", "q")
# How many expired conversations one call clears at most; the rest are filtered, then cleared
# by later calls, so no call pays for a long absence all at once.
PURGE_BATCH = 100
# Lua's unpack() is bounded by its C stack (8,000 values): bulk calls go in chunks.
CHUNK = 1000

_PRELUDE = f"""
local IDX, EXP, SUM, SES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local NOW, EXPIRED_BEFORE, EXPIRE_AT, BASE, NOW_ISO = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local SUMMARY_ATTRS = {{'{"', '".join(SUMMARY_ATTRS)}'}}
local MESSAGE_ATTRS = {{'{"', '".join(MESSAGE_ATTRS)}'}}
local MESSAGE_BOOKKEEPING = {{'{"', '".join(MESSAGE_BOOKKEEPING)}'}}

local function summary_fields(cid)
  local fields = {{}}
  for i, attr in ipairs(SUMMARY_ATTRS) do fields[i] = attr .. '|' .. cid end
  return fields
end

local function hmget(key, fields)
  local values = {{}}
  for i = 1, #fields, {CHUNK} do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + {CHUNK} - 1, #fields)))
    for j = 1, #part do values[#values + 1] = part[j] end
  end
  return values
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
  if redis.call('HGET', SES, 'current') == cid then redis.call('HDEL', SES, 'current') end
end

-- Clear up to {PURGE_BATCH} expired conversations; returns true when there may be more.
local function purge_expired()
  if EXPIRED_BEFORE == '' then return false end
  local ids = redis.call('ZRANGEBYSCORE', EXP, '-inf', EXPIRED_BEFORE, 'LIMIT', 0, {PURGE_BATCH})
  for _, cid in ipairs(ids) do drop(cid) end
  return #ids == {PURGE_BATCH}
end

-- Whether the conversation exists and has not expired (an expired one is cleared).
local function live(cid)
  local written = redis.call('ZSCORE', EXP, cid)
  if not written then return false end
  if EXPIRED_BEFORE ~= '' and tonumber(written) <= tonumber(EXPIRED_BEFORE) then
    drop(cid)
    return false
  end
  return true
end

local function touch(...)
  if EXPIRE_AT == '' then return end
  for _, key in ipairs({{...}}) do redis.call('PEXPIREAT', key, EXPIRE_AT) end
end

-- Record a write to the conversation: newest in the list, expiry restarted, version bumped.
local function bump(cid, score, updated_at)
  redis.call('HSET', SUM, 'u|' .. cid, updated_at)
  redis.call('HINCRBY', SUM, 'v|' .. cid, 1)
  redis.call('ZADD', IDX, score, cid)
  redis.call('ZADD', EXP, NOW, cid)
end

-- Remove the least recently updated conversations beyond the cap, never `keep`.
local function evict(cap, keep, result)
  local over = redis.call('ZCARD', IDX) - cap
  if over <= 0 then return end
  for _, victim in ipairs(redis.call('ZRANGE', IDX, 0, over)) do
    if over > 0 and victim ~= keep then
      drop(victim)
      result[#result + 1] = victim
      over = over - 1
    end
  end
end

-- {{attribute values (#MESSAGE_ATTRS per message), tool execution JSON (in xo order)}}.
local function read_messages(M, ids)
  local fields = {{}}
  for _, mid in ipairs(ids) do
    for _, attr in ipairs(MESSAGE_ATTRS) do fields[#fields + 1] = attr .. '|' .. mid end
  end
  if #fields == 0 then return {{{{}}, {{}}}} end
  local values = hmget(M, fields)
  local tool_fields = {{}}
  for i, mid in ipairs(ids) do
    local order = values[i * #MESSAGE_ATTRS]
    if order then
      for tid in string.gmatch(order, '%S+') do
        tool_fields[#tool_fields + 1] = 'x|' .. mid .. '|' .. tid
      end
    end
  end
  local tools = {{}}
  if #tool_fields > 0 then tools = hmget(M, tool_fields) end
  return {{values, tools}}
end

-- Set message fields from ARGV[first .. first + count - 1] (field, value pairs).
local function hset_args(M, first, count)
  local last = first + count - 1
  for i = first, last, {CHUNK} do
    redis.call('HSET', M, unpack(ARGV, i, math.min(i + {CHUNK} - 1, last)))
  end
end

-- The position of the conversation record after the one at ARGV[p] (see RECORD in Python).
local function next_record(p)
  return p + 9 + tonumber(ARGV[p + 8]) + tonumber(ARGV[p + 6])
end

-- Replace a whole conversation with the record at ARGV[p]: id, updatedAt score, title,
-- createdAt, updatedAt, totalTokens, message count N, mcpServers JSON, F; then F message-hash
-- arguments (field, value pairs) and the N message ids in order.
local function write_conversation(p, exists)
  local cid, count = ARGV[p], tonumber(ARGV[p + 6])
  local tokens, nvals = tonumber(ARGV[p + 5]), tonumber(ARGV[p + 8])
  local M, O = BASE .. 'm:' .. cid, BASE .. 'o:' .. cid
  local n_old, k_old = 0, 0
  if exists then
    local counts = redis.call('HMGET', SUM, 'n|' .. cid, 'k|' .. cid)
    n_old, k_old = tonumber(counts[1]) or 0, tonumber(counts[2]) or 0
  end
  redis.call('DEL', M, O)
  hset_args(M, p + 9, nvals)
  redis.call('HSET', M, '#seq', count)
  local ids_first = p + 9 + nvals
  local ids_last = ids_first + count - 1
  for i = ids_first, ids_last, {CHUNK} do
    local batch = {{}}
    for j = i, math.min(i + {CHUNK} - 1, ids_last) do
      batch[#batch + 1] = j - ids_first + 1
      batch[#batch + 1] = ARGV[j]
    end
    redis.call('ZADD', O, unpack(batch))
  end
  redis.call('HSET', SUM, 't|' .. cid, ARGV[p + 2], 'c|' .. cid, ARGV[p + 3],
    'k|' .. cid, tokens, 'n|' .. cid, count)
  if ARGV[p + 7] == '' then
    redis.call('HDEL', SUM, 'a|' .. cid, 'p|' .. cid)
  else
    redis.call('HDEL', SUM, 'a|' .. cid)
    redis.call('HSET', SUM, 'p|' .. cid, ARGV[p + 7])
  end
  if count ~= n_old then redis.call('HINCRBY', SUM, '#m', count - n_old) end
  if tokens ~= k_old then redis.call('HINCRBY', SUM, '#k', tokens - k_old) end
  bump(cid, ARGV[p + 1], ARGV[p + 4])
  touch(M, O)
  return next_record(p)
end

-- Up to limit+1 (id, score) pairs of the list, newest first, after the cursor (score, id).
local function page_of_conversations(limit, score, after)
  if score == '' then
    return redis.call('ZREVRANGE', IDX, 0, limit, 'WITHSCORES')
  end
  -- Same-millisecond neighbours of the cursor first (reverse id order, as ZREVRANGE sorts
  -- them), then everything strictly older: a page never repeats or skips a conversation.
  local page = {{}}
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
  return page
end

-- The page of live conversations after the cursor, clearing expired ones on the way.
local function live_page(limit, score, after)
  local more_expired = purge_expired()
  local page = page_of_conversations(limit, score, after)
  if not more_expired then return page end
  -- The purge hit its batch size: leave out of the page what it did not clear.
  local kept = {{}}
  for i = 1, #page, 2 do
    local written = redis.call('ZSCORE', EXP, page[i])
    if written and tonumber(written) > tonumber(EXPIRED_BEFORE) then
      kept[#kept + 1] = page[i]
      kept[#kept + 1] = page[i + 1]
    end
  end
  return kept
end
"""


def _script(name: str, body: str) -> Script:
    return Script(name, _PRELUDE + body)


# ARGV[6] limit, ARGV[7] cursor score ('' for the first page), ARGV[8] cursor id.
# Returns {ids-with-scores (up to limit+1 pairs), summary values (#SUMMARY_ATTRS per id)}.
LIST_CONVERSATIONS = _script(
    "list_conversations",
    """
local limit = tonumber(ARGV[6])
local page = live_page(limit, ARGV[7], ARGV[8])
local fields = {}
for i = 1, math.min(#page, 2 * limit), 2 do
  for _, f in ipairs(summary_fields(page[i])) do fields[#fields + 1] = f end
end
return {page, hmget(SUM, fields)}
""",
)

# KEYS[5] message hash, KEYS[6] message order. ARGV[6] conversation id, ARGV[7] limit,
# ARGV[8] exclusive upper sequence bound ('' for the newest page), ARGV[9] the most characters
# of content one page may carry (a Lambda response holds at most 6 MB).
# Returns {0} when absent, else {1, summary values, the page's ids-with-seqs (newest first),
# 1 when older messages remain, {message values, tool values}}.
GET_CONVERSATION = _script(
    "get_conversation",
    """
local cid, limit, budget = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[9])
if not live(cid) then return {0} end
local summary = redis.call('HMGET', SUM, unpack(summary_fields(cid)))
local upper = '+inf'
if ARGV[8] ~= '' then upper = '(' .. ARGV[8] end
local page = redis.call('ZREVRANGEBYSCORE', KEYS[6], upper, '-inf', 'WITHSCORES',
  'LIMIT', 0, limit + 1)
local ids = {}
for i = 1, math.min(#page, 2 * limit), 2 do ids[#ids + 1] = page[i] end
local more = #page > 2 * limit
if #ids > 1 then
  -- Stop before the message that would take the page over its budget (never at the first).
  local length_fields = {}
  for i, mid in ipairs(ids) do length_fields[i] = 'l|' .. mid end
  local lengths = redis.call('HMGET', KEYS[5], unpack(length_fields))
  local total = 0
  for i = 1, #ids do
    total = total + (tonumber(lengths[i]) or 0)
    if i > 1 and total > budget then
      for j = #ids, i, -1 do ids[j] = nil end
      more = true
      break
    end
  end
end
local kept = {}
for i = 1, 2 * #ids do kept[i] = page[i] end
return {1, summary, kept, more and 1 or 0, read_messages(KEYS[5], ids)}
""",
)

# ARGV[6] id, [7] conversation cap, [8] If-Match ('' none, '*' any version, else a version),
# [9] If-None-Match ('' or '*'), then the conversation's record (see write_conversation).
# Returns {'precondition_failed'} or {'ok', created 1/0, version, evicted ids...}.
PUT_CONVERSATION = _script(
    "put_conversation",
    """
local cid, cap = ARGV[6], tonumber(ARGV[7])
purge_expired()
local exists = live(cid)
local version = 0
if exists then version = tonumber(redis.call('HGET', SUM, 'v|' .. cid)) or 0 end
local if_match, if_none_match = ARGV[8], ARGV[9]
if (if_match == '*' and not exists)
  or (if_match ~= '' and if_match ~= '*' and (not exists or tostring(version) ~= if_match))
  or (if_none_match == '*' and exists) then
  return {'precondition_failed'}
end
write_conversation(10, exists)
local result = {'ok', exists and 0 or 1, version + 1}
evict(cap, cid, result)
touch(IDX, EXP, SUM)
return result
""",
)

# ARGV[6] conversation cap, [7] current conversation id ('' to leave it), [8] session TTL in
# ms ('' for none), [9] N, then N conversation records, newest first.
# A conversation already stored is replaced only when the imported one is newer; one older
# than everything kept at the cap is not written at all. Importing twice changes nothing.
# Returns {imported, updated, skipped, evicted ids...}.
IMPORT_CONVERSATIONS = _script(
    "import_conversations",
    """
local cap = tonumber(ARGV[6])
purge_expired()
local imported, updated, skipped = 0, 0, 0
local evicted = {}
local p = 10
for _ = 1, tonumber(ARGV[9]) do
  local cid, score = ARGV[p], tonumber(ARGV[p + 1])
  if live(cid) then
    if score > tonumber(redis.call('ZSCORE', IDX, cid)) then
      p = write_conversation(p, true)
      updated = updated + 1
    else
      p = next_record(p)
      skipped = skipped + 1
    end
  else
    local oldest = redis.call('ZRANGE', IDX, 0, 0, 'WITHSCORES')
    if redis.call('ZCARD', IDX) >= cap and oldest[2] and score <= tonumber(oldest[2]) then
      -- It would be the first evicted: name it, write nothing.
      evicted[#evicted + 1] = cid
      p = next_record(p)
    else
      p = write_conversation(p, false)
      imported = imported + 1
    end
  end
end
if ARGV[7] ~= '' then
  redis.call('HSET', SES, 'current', ARGV[7])
  if ARGV[8] ~= '' then redis.call('PEXPIRE', SES, ARGV[8]) end
end
local result = {imported, updated, skipped}
evict(cap, '', evicted)
for _, cid in ipairs(evicted) do result[#result + 1] = cid end
touch(IDX, EXP, SUM)
return result
""",
)

# ARGV[6] limit, ARGV[7] cursor score ('' for the first page), ARGV[8] cursor id.
# Returns {ids-with-scores (up to limit+1 pairs), current conversation id or nil, then per
# conversation of the page: {summary values, message ids (in order), {message values,
# tool values}}}.
EXPORT_CONVERSATIONS = _script(
    "export_conversations",
    """
local limit = tonumber(ARGV[6])
local page = live_page(limit, ARGV[7], ARGV[8])
local result = {page, redis.call('HGET', SES, 'current')}
for i = 1, math.min(#page, 2 * limit), 2 do
  local cid = page[i]
  local ids = redis.call('ZRANGE', BASE .. 'o:' .. cid, 0, -1)
  result[#result + 1] = {redis.call('HMGET', SUM, unpack(summary_fields(cid))), ids,
    read_messages(BASE .. 'm:' .. cid, ids)}
end
return result
""",
)

# KEYS[5...] the user's rate-limit windows. Deletes every key of the user.
# Returns the number of conversations erased.
ERASE_USER = _script(
    "erase_user",
    f"""
local count = redis.call('ZCARD', EXP)
local ids = redis.call('ZRANGE', EXP, 0, -1)
for _, cid in ipairs(redis.call('ZRANGE', IDX, 0, -1)) do ids[#ids + 1] = cid end
local keys = {{}}
for _, cid in ipairs(ids) do
  keys[#keys + 1] = BASE .. 'm:' .. cid
  keys[#keys + 1] = BASE .. 'o:' .. cid
end
for i = 1, #KEYS do keys[#keys + 1] = KEYS[i] end
for i = 1, #keys, {CHUNK} do
  redis.call('DEL', unpack(keys, i, math.min(i + {CHUNK} - 1, #keys)))
end
return count
""",
)

# ARGV[6] conversation id. Returns 1 when deleted, 0 when there was nothing to delete.
DELETE_CONVERSATION = _script(
    "delete_conversation",
    """
local cid = ARGV[6]
purge_expired()
if not live(cid) then return 0 end
drop(cid)
touch(IDX, EXP, SUM)
return 1
""",
)

# KEYS[5] message hash, KEYS[6] message order.
# ARGV[6] conversation id, [7] message id, [8] type, [9] content, [10] title to use if this
# creates the conversation or is its first user message ('' when it is not a user message),
# [11] default title, [12] token total, [13] message cap, [14] conversation cap,
# [15] F, then F message-hash arguments (field, value pairs).
# Returns {'duplicate', {message values, tool values}} for a retry, {'conflict'},
# {'too_many'}, or {'created', conversation created 1/0, evicted ids...}.
APPEND_MESSAGE = _script(
    "append_message",
    """
local cid, mid, kind, content = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local title, default_title = ARGV[10], ARGV[11]
local tokens, max_messages, cap = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local M, O = KEYS[5], KEYS[6]
purge_expired()
local exists = live(cid)
if exists and redis.call('ZSCORE', O, mid) then
  local stored = redis.call('HMGET', M, 't|' .. mid, 'c|' .. mid)
  if stored[1] == kind and stored[2] == content then
    return {'duplicate', read_messages(M, {mid})}
  end
  return {'conflict'}
end
if exists then
  local count = tonumber(redis.call('HGET', SUM, 'n|' .. cid)) or 0
  if count >= max_messages then return {'too_many'} end
  if title ~= '' and redis.call('HGET', SUM, 'a|' .. cid) then
    redis.call('HSET', SUM, 't|' .. cid, title)
    redis.call('HDEL', SUM, 'a|' .. cid)
  end
else
  redis.call('DEL', M, O)
  local fields = {'c|' .. cid, NOW_ISO, 'n|' .. cid, 0, 'k|' .. cid, 0, 'v|' .. cid, 0}
  if title ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 't|' .. cid, title
  else
    fields[#fields + 1], fields[#fields + 2] = 't|' .. cid, default_title
    fields[#fields + 1], fields[#fields + 2] = 'a|' .. cid, 1
  end
  redis.call('HSET', SUM, unpack(fields))
end
local seq = redis.call('HINCRBY', M, '#seq', 1)
redis.call('ZADD', O, seq, mid)
hset_args(M, 16, tonumber(ARGV[15]))
redis.call('HINCRBY', SUM, 'n|' .. cid, 1)
redis.call('HINCRBY', SUM, '#m', 1)
if tokens ~= 0 then
  redis.call('HINCRBY', SUM, 'k|' .. cid, tokens)
  redis.call('HINCRBY', SUM, '#k', tokens)
end
bump(cid, NOW, NOW_ISO)
local result = {'created', exists and 0 or 1}
if not exists then evict(cap, cid, result) end
touch(IDX, EXP, SUM, M, O)
return result
""",
)

# KEYS[5] message hash, KEYS[6] message order.
# ARGV[6] conversation id, [7] message id, [8] new content, [9] '1' when [8] replaces the
# content, [10] its length, [11] delta to append ('' for none), [12] its length, [13] its
# sequence number ('' when the client does not number deltas), [14] content cap in characters,
# [15] streaming ('', '0', '1'), [16] editable ('', '0', '1'), [17] tokens JSON ('' to keep),
# [18] token total, [19] '1' to return the message, [20] T, then T tool (id, JSON) pairs.
# Returns {'not_found'}, {'too_large'}, {'out_of_order', last applied sequence},
# {'ok', {message values, tool values} or {}}.
UPDATE_MESSAGE = _script(
    "update_message",
    """
local cid, mid = ARGV[6], ARGV[7]
local M, O = KEYS[5], KEYS[6]
if not live(cid) or not redis.call('ZSCORE', O, mid) then return {'not_found'} end
local max_chars = tonumber(ARGV[14])
local length = nil
if ARGV[9] == '1' then
  length = tonumber(ARGV[10])
  if length > max_chars then return {'too_large'} end
end
local delta, sequence = ARGV[11], ARGV[13]
local append = delta ~= ''
if append and sequence ~= '' then
  local last = tonumber(redis.call('HGET', M, 'q|' .. mid)) or 0
  if tonumber(sequence) <= last then
    append = false  -- a retry of a delta already appended: append nothing
  elseif tonumber(sequence) ~= last + 1 then
    return {'out_of_order', last}
  end
end
-- Every field this patch sets goes into one HSET at the end.
local set = {'u|' .. mid, NOW}
local function put(attr, value)
  set[#set + 1] = attr .. '|' .. mid
  set[#set + 1] = value
end
if append then
  local stored = redis.call('HMGET', M, 'l|' .. mid, 'c|' .. mid)
  local before = length or tonumber(stored[1]) or 0
  local text = ARGV[8]
  if not length then text = stored[2] or '' end
  length = before + tonumber(ARGV[12])
  if length > max_chars then return {'too_large'} end
  put('c', text .. delta)
  put('l', length)
  if sequence ~= '' then put('q', sequence) end
elseif ARGV[9] == '1' then
  put('c', ARGV[8])
  put('l', length)
end
if ARGV[15] ~= '' then put('s', ARGV[15]) end
if ARGV[15] == '1' then redis.call('HDEL', M, 'i|' .. mid) end
if ARGV[16] ~= '' then put('e', ARGV[16]) end
if ARGV[17] ~= '' then
  local total = tonumber(ARGV[18])
  local old = tonumber(redis.call('HGET', M, 'kt|' .. mid)) or 0
  put('k', ARGV[17])
  put('kt', total)
  if total ~= old then
    redis.call('HINCRBY', SUM, 'k|' .. cid, total - old)
    redis.call('HINCRBY', SUM, '#k', total - old)
  end
end
local ntools = tonumber(ARGV[20])
if ntools > 0 then
  local order = redis.call('HGET', M, 'xo|' .. mid) or ''
  local known = {}
  for tid in string.gmatch(order, '%S+') do known[tid] = true end
  for i = 21, 20 + 2 * ntools, 2 do
    local tid = ARGV[i]
    if not known[tid] then
      order = (order == '' and tid) or (order .. ' ' .. tid)
      known[tid] = true
    end
    set[#set + 1] = 'x|' .. mid .. '|' .. tid
    set[#set + 1] = ARGV[i + 1]
  end
  put('xo', order)
end
redis.call('HSET', M, unpack(set))
bump(cid, NOW, NOW_ISO)
touch(IDX, EXP, SUM, M, O)
if ARGV[19] == '1' then return {'ok', read_messages(M, {mid})} end
return {'ok', {}}
""",
)

# KEYS[5] message hash, KEYS[6] message order. ARGV[6] conversation id, [7] message id.
# Returns 1 when deleted, 0 when there was no such message.
DELETE_MESSAGE = _script(
    "delete_message",
    f"""
local cid, mid = ARGV[6], ARGV[7]
local M, O = KEYS[5], KEYS[6]
if not live(cid) or redis.call('ZREM', O, mid) == 0 then return 0 end
local info = redis.call('HMGET', M, 'kt|' .. mid, 'xo|' .. mid)
local fields = {{}}
for _, attr in ipairs(MESSAGE_ATTRS) do fields[#fields + 1] = attr .. '|' .. mid end
for _, attr in ipairs(MESSAGE_BOOKKEEPING) do fields[#fields + 1] = attr .. '|' .. mid end
for tid in string.gmatch(info[2] or '', '%S+') do
  fields[#fields + 1] = 'x|' .. mid .. '|' .. tid
end
for i = 1, #fields, {CHUNK} do
  redis.call('HDEL', M, unpack(fields, i, math.min(i + {CHUNK} - 1, #fields)))
end
redis.call('HINCRBY', SUM, 'n|' .. cid, -1)
redis.call('HINCRBY', SUM, '#m', -1)
local tokens = tonumber(info[1]) or 0
if tokens ~= 0 then
  redis.call('HINCRBY', SUM, 'k|' .. cid, -tokens)
  redis.call('HINCRBY', SUM, '#k', -tokens)
end
bump(cid, NOW, NOW_ISO)
touch(IDX, EXP, SUM, M, O)
return 1
""",
)

# KEYS[5] message hash, KEYS[6] message order (their expiry restarts with the write).
# ARGV[6] conversation id, [7] '1' to set the title, [8] title, [9] '1' to set mcpServers,
# [10] mcpServers JSON ('' to remove). Returns {0} when absent, else {1, summary values}.
UPDATE_CONVERSATION = _script(
    "update_conversation",
    """
local cid = ARGV[6]
if not live(cid) then return {0} end
if ARGV[7] == '1' then
  redis.call('HSET', SUM, 't|' .. cid, ARGV[8])
  redis.call('HDEL', SUM, 'a|' .. cid)
end
if ARGV[9] == '1' then
  if ARGV[10] == '' then
    redis.call('HDEL', SUM, 'p|' .. cid)
  else
    redis.call('HSET', SUM, 'p|' .. cid, ARGV[10])
  end
end
bump(cid, NOW, NOW_ISO)
touch(IDX, EXP, SUM, KEYS[5], KEYS[6])
return {1, redis.call('HMGET', SUM, unpack(summary_fields(cid)))}
""",
)

# Returns {conversation count, message total, token total, current conversation id or nil}.
GET_ME = _script(
    "get_me",
    """
local more = purge_expired()
local count = redis.call('ZCARD', IDX)
if more then count = redis.call('ZCOUNT', EXP, '(' .. EXPIRED_BEFORE, '+inf') end
local totals = redis.call('HMGET', SUM, '#m', '#k')
return {count, tonumber(totals[1]) or 0, tonumber(totals[2]) or 0,
  redis.call('HGET', SES, 'current')}
""",
)

# ARGV[6] conversation id ('' to clear), ARGV[7] session TTL in ms ('' for none).
SET_CURRENT_CONVERSATION = _script(
    "set_current_conversation",
    """
if ARGV[6] == '' then
  redis.call('HDEL', SES, 'current')
else
  redis.call('HSET', SES, 'current', ARGV[6])
  if ARGV[7] ~= '' then redis.call('PEXPIRE', SES, ARGV[7]) end
end
return 1
""",
)
