-- What every script of a user's data shares; shared/scripts.py puts it after the generated
-- prelude (K: the script's keys by name, A: its arguments by name, REST: the index of its first
-- variadic argument) and before the script's own body.
--
-- Rules every script follows:
-- * It touches only keys passed in KEYS (Upstash's key locking refuses any other).
-- * Everything that can refuse the call (rate limit, not found, conflict, limits) is decided
--   before the first write; the writes then cannot fail, so a call does all of its work or none.
-- * Writes are collected and sent at the end, one HSET (and at most one HDEL) per hash.
-- * An expiry is sent only when it changes: writes record the rounded expiry they last applied
--   ('#e' for the user's keys, 'e|<id>' for a conversation's) and re-send it about once an hour.
--   A record speaks only for keys that existed when it was applied: a key that ceases to exist
--   (deleted, or its last member removed) and is written again comes back with no expiry, so
--   whatever creates a key queues it for the expiry (expire_later) whatever the record says.
-- * Values are the strings Python produced; scripts never parse JSON.
-- * The first value returned is the caller's rate-limit quota: what is left of the window,
--   -1 when the call was refused (then nothing else is returned or written), or -2 when the
--   limit is off.

-- Per-conversation summary attributes, each kept as '<attr>|<conversation id>' in the summary
-- hash: title, createdAt, updatedAt, message count, token total, mcpServers JSON, version,
-- auto-title flag (set while the title is the default one a first user message replaces),
-- write epoch (the rounded instant of the last write: what expiry counts from), the expiry
-- last applied to the conversation's own keys, its tombstone ('<kind> <ms>' once deleted,
-- evicted or expired), the size its messages take in JSON (bytes, an upper bound) and when a
-- reply last streamed into it (ms; absent when none streams). Python decodes them in this order.
local SUMMARY = {'t', 'c', 'u', 'n', 'k', 'p', 'v', 'a', 'w', 'e', 'x', 'sz', 'sm'}
-- Per-message attributes read back for a page, '<attr>|<message id>' in the message hash:
-- type, timestamp, streaming, tokens JSON, editable, last update (ms), interrupted, tool
-- execution ids (space-separated; each tool is 'x|<message id>|<tool id>'), content length
-- (UTF-16 code units, as JavaScript counts) and the message's size in JSON (bytes, an upper
-- bound). The content itself ('c') is read separately, once the page's budget is known.
local MESSAGE = {'t', 'ts', 's', 'k', 'e', 'u', 'i', 'xo', 'l', 'j'}
-- Written but never read back for a page: token total, last applied delta sequence.
local MESSAGE_BOOKKEEPING = {'kt', 'q'}
-- The user's own fields in the summary hash: conversation count (index entries, expired ones
-- not yet removed included), message and token totals, the expiry last applied to the user's
-- keys, the current conversation with the instant its pointer lapses ('' never), the most
-- recent conversation with its index score (touch_conversation), the change feed's generation,
-- last sequence number and floor (changes below it are forgotten), the number of tombstones
-- kept, and the list version (one more on every write a list or /api/me could show).
local USER = {'#c', '#m', '#k', '#e', '#cur', '#curx', '#top', '#tops', '#fid', '#fseq', '#ffl',
  '#tc', '#lv'}
-- Tombstones kept per user: a deletion older than the last this many is forgotten, and a device
-- whose feed cursor predates it must list again (410).
local TOMBSTONES = 1000
-- Lua's unpack() is bounded by its C stack (8,000 values): bulk calls go in chunks.
local CHUNK = 1000

local function attr_fields(attrs, id)
  local fields = {}
  for i, attr in ipairs(attrs) do fields[i] = attr .. '|' .. id end
  return fields
end

local function append_all(list, more)
  for _, v in ipairs(more) do list[#list + 1] = v end
  return list
end

-- HMGET as a table from field name to value (absent fields are nil), in chunks.
local function hmget(key, fields)
  local map = {}
  for i = 1, #fields, CHUNK do
    local last = math.min(i + CHUNK - 1, #fields)
    local part = redis.call('HMGET', key, unpack(fields, i, last))
    for j = 1, #part do
      if part[j] then map[fields[i + j - 1]] = part[j] end
    end
  end
  return map
end

-- Values of `fields` from `map` in order, false for absent ones (a Lua table cannot hold nil
-- in a list; Python reads false as None).
local function values_of(map, fields)
  local values = {}
  for i, field in ipairs(fields) do
    local v = map[field]
    if v == nil then v = false end
    values[i] = v
  end
  return values
end

-- ---------------------------------------------------------------- pending writes

local pending = {order = {}, by_key = {}}
-- Feed writes, sent by flush(): changed conversations by sequence number, tombstones added to
-- and removed from the tombstone index (and how many of those added are new members).
local feed = {changes = {}, tombs = {}, revived = {}, added = 0}
-- Keys to send the expiry to once written, each once (expire_later, send_expiries).
local expiring = {keys = {}, seen = {}}

local function pending_for(key)
  local p = pending.by_key[key]
  if not p then
    p = {set = {}, set_order = {}, del = {}, del_order = {}}
    pending.by_key[key] = p
    pending.order[#pending.order + 1] = key
  end
  return p
end

-- A number as Redis should keep it: integers in full (tostring() keeps 14 digits, and token
-- totals reach 2^53 - 1), others to the last digit.
local function text_of(value)
  if type(value) ~= 'number' then return value end
  if value == math.floor(value) then return string.format('%.0f', value) end
  return string.format('%.17g', value)
end

local function hset(key, field, value)
  local p = pending_for(key)
  if p.set[field] == nil then p.set_order[#p.set_order + 1] = field end
  p.set[field] = text_of(value)
  p.del[field] = nil
end

local function hdel(key, field)
  local p = pending_for(key)
  if not p.del[field] then p.del_order[#p.del_order + 1] = field end
  p.del[field] = true
  p.set[field] = nil
end

local function chunked(command, key, args)
  for i = 1, #args, CHUNK do
    redis.call(command, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end

-- Send the keys written now their Redis expiry (or take it away when nothing expires).
local function apply_expiry(keys)
  for _, key in ipairs(keys) do
    if A.expire_at == '' then
      redis.call('PERSIST', key)
    else
      redis.call('PEXPIREAT', key, A.expire_at)
    end
  end
end

-- Queue `keys` for the expiry sent at the end of the call: keys this call creates, and keys
-- whose recorded expiry moved on. A key queued twice gets it once.
local function expire_later(keys)
  for _, key in ipairs(keys) do
    if not expiring.seen[key] then
      expiring.seen[key] = true
      expiring.keys[#expiring.keys + 1] = key
    end
  end
end

-- After the flush (the keys exist by then): send every queued key its expiry.
local function send_expiries()
  apply_expiry(expiring.keys)
  expiring = {keys = {}, seen = {}}
end

-- The feed's part of a flush: the changed conversations' new sequence numbers, the tombstone
-- index, and the oldest tombstones forgotten once there are more than TOMBSTONES.
local function flush_feed()
  if #feed.changes > 0 then chunked('ZADD', K.chg, feed.changes) end
  if #feed.revived > 0 then chunked('ZREM', K.tb, feed.revived) end
  if #feed.tombs > 0 then
    local kept = tonumber(pending.by_key[K.sum].set['#tc'])
    -- Kept now, less those this adds: what the index holds once the revived are out. None: it
    -- was empty, or emptied just now, and comes back without an expiry.
    if kept - feed.added == 0 then expire_later({K.tb}) end
    chunked('ZADD', K.tb, feed.tombs)
    if kept > TOMBSTONES then
      local popped = redis.call('ZPOPMIN', K.tb, kept - TOMBSTONES)
      local forgotten = {}
      for i = 1, #popped, 2 do
        forgotten[#forgotten + 1] = popped[i]
        hdel(K.sum, 'x|' .. popped[i])
      end
      chunked('ZREM', K.chg, forgotten)
      hset(K.sum, '#tc', TOMBSTONES)
      hset(K.sum, '#ffl', popped[#popped])
      -- (Neither index empties and comes back here: the tombstone index keeps TOMBSTONES, and
      -- the feed only loses members after this call's changes were added.)
    end
  end
  feed = {changes = {}, tombs = {}, revived = {}, added = 0}
end

-- Send every pending write: the feed's, then at most one HDEL and one HSET per hash (more
-- only in chunks).
local function flush()
  flush_feed()
  for _, key in ipairs(pending.order) do
    local p = pending.by_key[key]
    local dels = {}
    for _, field in ipairs(p.del_order) do
      if p.del[field] then dels[#dels + 1] = field end
    end
    if #dels > 0 then chunked('HDEL', key, dels) end
    local sets = {}
    for _, field in ipairs(p.set_order) do
      local value = p.set[field]
      if value ~= nil then
        sets[#sets + 1] = field
        sets[#sets + 1] = value
      end
    end
    if #sets > 0 then chunked('HSET', key, sets) end
  end
  pending = {order = {}, by_key = {}}
end

-- ---------------------------------------------------------------- the user's summary hash

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

-- The summary fields of every conversation in `ids`.
local function summary_fields(ids)
  local fields = {}
  for _, id in ipairs(ids) do append_all(fields, attr_fields(SUMMARY, id)) end
  return fields
end

-- Whether conversation `id` exists and has not expired, by its write epoch in `S`.
local function is_live(S, id)
  local epoch = S['w|' .. id]
  if not epoch then return false end
  return A.expired_before == '' or tonumber(epoch) > tonumber(A.expired_before)
end

local function num(value)
  return tonumber(value) or 0
end

-- A running total as kept: never below zero, never past 2^53 - 1 (what JavaScript's
-- JSON.parse reads exactly), whatever was added or taken.
local MAX_TOTAL = 9007199254740991
local function total(value)
  return math.max(0, math.min(MAX_TOTAL, value))
end

-- ---------------------------------------------------------------- rate limit

-- The sliding window of upstash-ratelimit's SlidingWindow, decision for decision: requests in
-- the current window plus the previous window's, weighted by how much of it still overlaps.
-- Its state is one string, '<window number> <count> <previous window's count>' (false when
-- there is none). Returns what is left of the window and the new state, or -1 when the request
-- may not pass (the state is then unchanged).
local function sliding_window(state, limit, window, now)
  local current_window = math.floor(now / window)
  local current, previous = 0, 0
  if state then
    local w, c, p = string.match(state, '^(%d+) (%d+) (%d+)$')
    w = tonumber(w)
    if w == current_window then
      current, previous = tonumber(c), tonumber(p)
    elseif w == current_window - 1 then
      previous = tonumber(c)
    end
  end
  local weighted = math.floor((1 - (now % window) / window) * previous)
  if weighted + current >= limit then return -1, state end
  current = current + 1
  return limit - (current + weighted), current_window .. ' ' .. current .. ' ' .. previous
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

-- ---------------------------------------------------------------- expiry

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

-- ---------------------------------------------------------------- conversations

-- One more on the list version: whatever a list page or /api/me shows may have changed.
local function bump_list(S)
  if S['#lv~'] then return end
  S['#lv~'] = true
  hset(K.sum, '#lv', num(S['#lv']) + 1)
end

-- Record a change of conversation `id` in the change feed: its next sequence number. The
-- feed's generation starts with the user's first change (erasing the user starts a new one).
local function feed_change(S, id)
  -- The user's first change creates the feed's key (a generation has no other way to empty it).
  if num(S['#fseq']) == 0 then expire_later({K.chg}) end
  local seq = num(S['#fseq']) + 1
  S['#fseq'] = tostring(seq)
  hset(K.sum, '#fseq', seq)
  if not S['#fid'] then
    S['#fid'] = A.now
    hset(K.sum, '#fid', A.now)
  end
  feed.changes[#feed.changes + 1] = seq
  feed.changes[#feed.changes + 1] = id
  return seq
end

-- The number of entries in the index (and in the expiry index, which holds the same ids) as the
-- call's writes leave them so far: '#c' as read, less those dropped, plus those added.
local function index_size(S)
  return tonumber(S['#c~now']) or num(S['#c'])
end

-- Whether `id` was deleted by the user and the tombstone is still kept: a write that would
-- bring it back must say so.
local function is_deleted(S, id)
  local tomb = S['x|' .. id]
  return tomb ~= nil and string.sub(tomb, 1, 8) == 'deleted '
end

-- Record a write to conversation `id`: updatedAt, list order, version, write epoch (and its
-- entry in the expiry index when the epoch moved on), the list version and, with `change`, the
-- change feed; a tombstone of the id is lifted. Returns true when the conversation's own keys
-- need their expiry re-sent. `S` holds no write epoch of an `id` not in the index (dropped
-- by this call, or never written): it enters both indexes, and creates them when empty.
--
-- '#top' names the conversation with the highest score in the index and '#tops' that score:
-- while a reply streams into the most recent conversation, a write at the caller's clock leaves
-- its order unchanged, and its ZADD is skipped. Every index write goes through here, so the
-- pair stays true: whatever scores higher takes it over, and a top conversation written with a
-- lower score (a PUT of an older updatedAt) or removed gives it up.
local function touch_conversation(S, id, score, updated_at, change)
  hset(K.sum, 'u|' .. id, updated_at)
  hset(K.sum, 'v|' .. id, num(S['v|' .. id]) + 1)
  bump_list(S)
  if change then feed_change(S, id) end
  if S['x|' .. id] then
    hdel(K.sum, 'x|' .. id)
    feed.revived[#feed.revived + 1] = id
    hset(K.sum, '#tc', math.max(0, num(S['#tc']) - 1))
    S['#tc'] = tostring(math.max(0, num(S['#tc']) - 1))
    S['x|' .. id] = nil
  end
  if not S['w|' .. id] then
    if index_size(S) == 0 then expire_later({K.idx, K.exp}) end
    S['#c~now'] = tostring(index_size(S) + 1)
  end
  local top_score = tonumber(S['#tops'])
  if not (S['#top'] == id and score == A.now) then
    redis.call('ZADD', K.idx, score, id)
    if not top_score or tonumber(score) >= top_score then
      hset(K.sum, '#top', id)
      hset(K.sum, '#tops', score)
    elseif S['#top'] == id then
      hdel(K.sum, '#top')
    end
  end
  if S['w|' .. id] ~= A.epoch then
    hset(K.sum, 'w|' .. id, A.epoch)
    redis.call('ZADD', K.exp, A.epoch, id)
  end
  if S['e|' .. id] ~= A.expire_at then
    hset(K.sum, 'e|' .. id, A.expire_at)
    return true
  end
  return false
end

-- Conversations whose write epoch says they have expired (all of them: at most the cap).
local function expired_ids()
  if A.expired_before == '' then return {} end
  return redis.call('ZRANGEBYSCORE', K.exp, '-inf', A.expired_before)
end

-- The conversations the cap removes: the `over` least recently updated index entries that are
-- neither in `skip` (a set: already being removed) nor `keep`.
local function eviction_victims(over, skip, keep)
  if over <= 0 then return {} end
  local skipped = 0
  for _ in pairs(skip) do skipped = skipped + 1 end
  local victims = {}
  for _, id in ipairs(redis.call('ZRANGE', K.idx, 0, over + skipped)) do
    if #victims < over and not skip[id] and id ~= keep then victims[#victims + 1] = id end
  end
  return victims
end

-- Remove conversations from the user's keys (index, expiry index, summary fields; the caller
-- updates the totals with what this returns) and leave a tombstone of each in the change feed:
-- `kinds` maps each id to 'deleted', 'evicted' or 'expired' (none: a conversation the call
-- writes anew, which needs no tombstone). Their message keys are not declared
-- here, so they stay until their own Redis expiry, remembered in the graveyard meanwhile so
-- that erasing the user deletes them at once; all but `deleted_now`, whose keys the caller
-- deletes. `S` must hold their 'n', 'k', 'e', 'w' and 'x' fields (read_for_drop). Returns the
-- messages and tokens removed.
local function drop_conversations(S, ids, kinds, deleted_now)
  local messages, tokens = 0, 0
  local graveyard = {}
  local ttl = 0
  if A.expired_before ~= '' then ttl = tonumber(A.now) - tonumber(A.expired_before) end
  local tombstones = num(S['#tc'])
  for _, id in ipairs(ids) do
    messages = messages + num(S['n|' .. id])
    tokens = tokens + num(S['k|' .. id])
    for _, field in ipairs(attr_fields(SUMMARY, id)) do hdel(K.sum, field) end
    if S['#cur'] == id then
      hdel(K.sum, '#cur')
      hdel(K.sum, '#curx')
    end
    if S['#top'] == id then
      hdel(K.sum, '#top')
      S['#top'] = nil
    end
    if id ~= deleted_now then
      graveyard[#graveyard + 1] = S['e|' .. id] or '0'
      graveyard[#graveyard + 1] = id
    end
    local kind, when = kinds[id], A.now
    if kind then  -- (none for a conversation the caller writes anew in the same call)
      if kind == 'expired' then when = num(S['w|' .. id]) + ttl end
      hset(K.sum, 'x|' .. id, kind .. ' ' .. text_of(when))
      local seq = feed_change(S, id)
      if not S['x|' .. id] then
        tombstones = tombstones + 1
        feed.added = feed.added + 1
      end
      feed.tombs[#feed.tombs + 1] = seq
      feed.tombs[#feed.tombs + 1] = id
    end
  end
  if #ids == 0 then return messages, tokens end
  bump_list(S)
  hset(K.sum, '#tc', tombstones)
  -- Kept in S too: a conversation written later in the same call (touch_conversation) lifts
  -- its own tombstone from this count, not from the one read before these were added.
  S['#tc'] = tostring(tombstones)
  S['#c~now'] = tostring(index_size(S) - #ids)
  chunked('ZREM', K.idx, ids)
  chunked('ZREM', K.exp, ids)
  if #graveyard > 0 then
    chunked('ZADD', K.gy, graveyard)
    -- Entries whose keys have expired by now are no longer worth remembering ('0': never).
    redis.call('ZREMRANGEBYSCORE', K.gy, 1, '(' .. A.now)
    apply_expiry({K.gy})
  end
  return messages, tokens
end

-- The current conversation pointer, unless it has lapsed.
local function current_conversation(S)
  local until_ms = S['#curx']
  if not S['#cur'] or (until_ms and until_ms ~= '' and tonumber(until_ms) <= tonumber(A.now)) then
    return false
  end
  return S['#cur']
end

-- The messages `ids` of message hash `key`, as {attribute values (#MESSAGE per message),
-- {content, then tool execution JSON in 'xo' order, per message}}. With `budget` (content
-- length, 'l') and `bytes` (size in the response as Lambda returns it, 'j'), only the first
-- messages within both are read (never fewer than one); the second value is how many were.
local function read_messages(key, ids, budget, bytes)
  local fields = {}
  for _, mid in ipairs(ids) do append_all(fields, attr_fields(MESSAGE, mid)) end
  local meta = hmget(key, fields)
  local kept = #ids
  if budget then
    local total, size = 0, 0
    for i, mid in ipairs(ids) do
      total = total + num(meta['l|' .. mid])
      size = size + num(meta['j|' .. mid])
      if i > 1 and (total > budget or size > bytes) then
        kept = i - 1
        break
      end
    end
  end
  local rest = {}
  for i = 1, kept do
    local mid = ids[i]
    rest[#rest + 1] = 'c|' .. mid
    for tid in string.gmatch(meta['xo|' .. mid] or '', '%S+') do
      rest[#rest + 1] = 'x|' .. mid .. '|' .. tid
    end
  end
  local contents = {}
  if #rest > 0 then contents = hmget(key, rest) end
  local kept_fields = {}
  for i = 1, kept * #MESSAGE do kept_fields[i] = fields[i] end
  return {values_of(meta, kept_fields), values_of(contents, rest)}, kept
end

-- The totals and expiry that removing conversations `ids` needs, read into `S`.
local function read_for_drop(S, ids)
  if #ids == 0 then return end
  local fields = {}
  for _, id in ipairs(ids) do append_all(fields, attr_fields({'n', 'k', 'e', 'w', 'x'}, id)) end
  for field, value in pairs(hmget(K.sum, fields)) do S[field] = value end
end

-- Write a whole conversation from a record of arguments starting at ARGV[p]: id, list score
-- (updatedAt in ms), title, createdAt, updatedAt, totalTokens, message count N, mcpServers
-- JSON ('' for none), size (bytes of JSON its messages take), streaming ('1' when a message
-- streams), F; then F message-hash arguments (field, value pairs) and the N message ids in
-- order. Replaces whatever the conversation's keys held, and records the change in the feed.
-- Both keys are created anew (the message order only when there are messages), so both are
-- queued for the expiry.
local function write_conversation(S, p, msgs, order)
  local id, count = ARGV[p], tonumber(ARGV[p + 6])
  local nvals = tonumber(ARGV[p + 10])
  redis.call('DEL', msgs, order)
  expire_later({msgs})
  if count > 0 then expire_later({order}) end
  for i = p + 11, p + 10 + nvals, CHUNK do
    redis.call('HSET', msgs, unpack(ARGV, i, math.min(i + CHUNK - 1, p + 10 + nvals)))
  end
  redis.call('HSET', msgs, '#seq', count)
  local first = p + 11 + nvals
  local batch = {}
  for j = first, first + count - 1 do
    batch[#batch + 1] = j - first + 1
    batch[#batch + 1] = ARGV[j]
  end
  if #batch > 0 then chunked('ZADD', order, batch) end
  hset(K.sum, 't|' .. id, ARGV[p + 2])
  hset(K.sum, 'c|' .. id, ARGV[p + 3])
  hset(K.sum, 'k|' .. id, ARGV[p + 5])
  hset(K.sum, 'n|' .. id, count)
  hset(K.sum, 'sz|' .. id, ARGV[p + 8])
  hdel(K.sum, 'a|' .. id)
  if ARGV[p + 7] == '' then hdel(K.sum, 'p|' .. id) else hset(K.sum, 'p|' .. id, ARGV[p + 7]) end
  if ARGV[p + 9] == '1' then
    hset(K.sum, 'sm|' .. id, A.now)
  elseif S['sm|' .. id] then
    hdel(K.sum, 'sm|' .. id)
  end
  touch_conversation(S, id, ARGV[p + 1], ARGV[p + 4], true)
  return first + count
end

-- The position of the conversation record after the one at ARGV[p] (see write_conversation).
local function next_record(p)
  return p + 11 + tonumber(ARGV[p + 10]) + tonumber(ARGV[p + 6])
end

-- ---------------------------------------------------------------- a request sent again

-- A write sent without an Idempotency-Key carries an id of its own request (A.rid; '' for one
-- sent with a key, which has its own answer below, and for a write already safe to repeat).
-- The same request may reach Upstash again: the Upstash client re-sends it when the answer of
-- a script that ran was lost on its way back, and an attempt held up in the network may arrive
-- after its re-send. Either run after the first answers what the first answered and writes
-- nothing. The answer is kept in the summary hash as 'r|<rid>', read by the HMGET a write
-- starts with and written by the HSET it ends with: keeping it costs no command. '#rr' lists
-- the ids kept, each with when it may go ('<rid> <until ms>' pairs, oldest first).
-- How long an answer is kept: far past the longest a call may take (the function's timeout).
local RESENT_MS = 300000
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

-- ---------------------------------------------------------------- Idempotency-Key

-- How long an answer is kept for its Idempotency-Key (24 hours, the IETF draft's advice).
local IDEMPOTENCY_MS = 86400000

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

-- What a write that may add conversation `cid` (when it does not exist yet) removes first: the
-- user's expired conversations, and over the cap (A.cap) the least recently updated. Their
-- fields are read into `S` for drop_conversations. Returns the ids to drop, their tombstones'
-- kinds (none for `cid` itself, written anew), the ids evicted and the number of conversations
-- after the write.
local function plan_removals(S, cid, exists)
  local expired = expired_ids()
  local gone = {}
  for _, id in ipairs(expired) do gone[id] = true end
  local count = num(S['#c']) - #expired
  local victims = {}
  if not exists then
    count = count + 1
    victims = eviction_victims(count - tonumber(A.cap), gone, cid)
    count = count - #victims
  end
  local removed = append_all(append_all({}, expired), victims)
  read_for_drop(S, removed)
  local kinds = {}
  for _, id in ipairs(expired) do
    if id ~= cid then kinds[id] = 'expired' end
  end
  for _, id in ipairs(victims) do kinds[id] = 'evicted' end
  return removed, kinds, victims, count
end

-- Whether the request's If-Match names another version than `version` ('' and '*' name any).
local function stale_version(version)
  return A.if_match ~= '' and A.if_match ~= '*' and tostring(version) ~= A.if_match
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

-- The refusal of a write to conversation `cid`, which must exist: 'not_found' when it is
-- absent or expired, 'precondition_failed' when If-Match names another version; nil to go on.
local function refuse_missing_or_stale(S, quota, cid)
  if not is_live(S, cid) then
    finish_read(S, quota)
    return {quota, 'not_found'}
  end
  local version = num(S['v|' .. cid])
  if stale_version(version) then
    finish_read(S, quota)
    return {quota, 'precondition_failed', version}
  end
  return nil
end

-- Every conversation of the user that may still have keys: indexed (live or expired) or
-- remembered in the graveyard, each once (erasing a user names all their keys).
local function conversations_with_keys()
  local ids, seen = {}, {}
  for _, key in ipairs({K.idx, K.exp, K.gy}) do
    for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      if not seen[id] then
        seen[id] = true
        ids[#ids + 1] = id
      end
    end
  end
  return ids
end
