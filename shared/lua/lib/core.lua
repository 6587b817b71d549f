-- The pieces every script of a user's data is built from: reading hashes, the writes a script
-- collects and sends at the end, and the keys queued for their expiry. shared/scripts.py puts the
-- libraries a script names (its '-- uses:' line, and theirs) between the generated prelude (K:
-- the script's keys by name, A: its arguments by name, REST: the index of its first variadic
-- argument) and the script's own body.
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
--   limit is off; then a status word naming the reply's shape (declared in shared/scripts.py).
-- uses: none

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

local function num(value)
  return tonumber(value) or 0
end

-- A number as Redis should keep it: integers in full (tostring() keeps 14 digits, and token
-- totals reach 2^53 - 1), others to the last digit.
local function text_of(value)
  if type(value) ~= 'number' then return value end
  if value == math.floor(value) then return string.format('%.0f', value) end
  return string.format('%.17g', value)
end

-- The end of `text` (UTF-8, `total` UTF-16 code units long, as JavaScript counts) after its
-- first `after` units: the offset it starts at, and the text. Walks back from the end over the
-- units wanted, so the cost is the new text, not the whole. A code point of four UTF-8 bytes is
-- two UTF-16 units; an offset inside one starts the text at the code point. An `after` past the
-- end (the content was replaced by a shorter one) answers all of it from 0.
local function utf16_tail(text, total, after)
  if after > total then return 0, text end
  local offset, start = total, #text + 1
  if after < total then
    local units = 0
    while units < total - after and start > 1 do
      start = start - 1
      local b = string.byte(text, start)
      if b < 0x80 or b >= 0xC0 then units = units + (b >= 0xF0 and 2 or 1) end
    end
    offset = total - units
  end
  return offset, string.sub(text, start)
end

-- A running total as kept: never below zero, never past 2^53 - 1 (what JavaScript's
-- JSON.parse reads exactly), whatever was added or taken.
local MAX_TOTAL = 9007199254740991

local function total(value)
  return math.max(0, math.min(MAX_TOTAL, value))
end

-- ---------------------------------------------------------------- pending writes

local pending = {order = {}, by_key = {}}

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

-- What other libraries send first when the pending writes go out (feed.lua's writes): a hook,
-- so that a script that cannot change the feed is not sent its code.
local before_flush = {}

-- Send every pending write: the hooks' first (the feed's), then at most one HDEL and one HSET
-- per hash (more only in chunks).
local function flush()
  for _, send in ipairs(before_flush) do send() end
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
