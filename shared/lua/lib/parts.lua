-- A message's UIMessage parts changed one at a time, by byte offsets into the JSON text they are
-- stored as ('pt|<mid>'), never by decoding and encoding it (cjson would not keep the keys'
-- order). The index beside it ('pi|<mid>', shared/part_index.py has its format) says where each
-- part's JSON is, its size as Lambda carries it, and its kind; a text part's entry also says
-- how long its text is, so that the message's content (its text parts joined) changes with it.
-- Used by update_message.lua for a PATCH's partChanges and for a reply that ends.
-- uses: core

-- How a part an append started ends while it streams, and once it is done: only the state
-- changes, so the part keeps its other keys and their order.
local STREAMING_END = '","state":"streaming"}'
local DONE_END = '","state":"done"}'

-- What a change may replace: a part of the same class only.
local PART_CLASS = {a = 'text', t = 'text', r = 'reasoning', q = 'reasoning', k = 'tool',
  o = 'other'}

-- How many arguments one part change takes (shared/part_index.py, CHANGE_WIDTH).
local PART_CHANGE_WIDTH = 8

local function parse_part_entry(text)
  local f = {}
  for v in string.gmatch(text, '[^,]+') do f[#f + 1] = v end
  local e = {kind = f[1], bytes = tonumber(f[2]), size = tonumber(f[3])}
  if e.kind == 'a' or e.kind == 't' then
    e.tbytes, e.tlen = tonumber(f[4]), tonumber(f[5])
  elseif e.kind == 'k' then
    e.id = f[4] or ''
  end
  return e
end

local function part_entry_text(e)
  local text = e.kind .. ',' .. text_of(e.bytes) .. ',' .. text_of(e.size)
  if e.kind == 'a' or e.kind == 't' then
    text = text .. ',' .. text_of(e.tbytes) .. ',' .. text_of(e.tlen)
  elseif e.kind == 'k' then
    text = text .. ',' .. e.id
  end
  return text
end

-- The parts as P: {texts (each part's JSON), entries, content, length (UTF-16 units)}, from the
-- stored text and its index; nil and the rule refused when they cannot be changed one by one.
-- A message without parts and without content is one with no parts yet.
local function load_parts(stored, index, content, length)
  if not stored then
    if content ~= '' then return nil, 'no_parts' end
    stored, index = '[]', ''
  end
  if not index then return nil, 'not_indexed' end
  local P = {texts = {}, entries = {}, content = content, length = length}
  for item in string.gmatch(index, '%S+') do P.entries[#P.entries + 1] = parse_part_entry(item) end
  local pos = 2
  for i, e in ipairs(P.entries) do
    P.texts[i] = string.sub(stored, pos, pos + e.bytes - 1)
    pos = pos + e.bytes + 1
  end
  -- The index must describe the text exactly ('[' parts joined by ',' ']'), or nothing is cut.
  local whole = (#P.entries == 0 and stored == '[]') or (#P.entries > 0 and pos == #stored + 1)
  if not whole then return nil, 'not_indexed' end
  return P
end

-- Bytes of content before part `upto`'s text: the text of the text parts before it.
local function text_offset(P, upto)
  local offset = 0
  for i = 1, upto - 1 do offset = offset + (P.entries[i].tbytes or 0) end
  return offset
end

-- Part `i`'s text (entry `old`, nil for a new part) becomes `text` in the content.
local function replace_text(P, i, old, text, length)
  local offset = text_offset(P, i)
  local old_bytes = (old and old.tbytes) or 0
  P.content = string.sub(P.content, 1, offset) .. text
    .. string.sub(P.content, offset + old_bytes + 1)
  P.length = P.length - ((old and old.tlen) or 0) + length
end

-- A whole part (its JSON `text`, entry `e`, its text `own` when a text part) put at `where`
-- ('' when not given, else an index from 0). Returns the rule it breaks, or nil.
local function put_part(P, where, text, e, own)
  local entries, count = P.entries, #P.entries
  local at = nil
  if where ~= '' then at = tonumber(where) + 1 end
  local target = nil
  if e.kind == 'k' then
    for i, old in ipairs(entries) do
      if old.kind == 'k' and old.id == e.id then
        target = i
        break
      end
    end
    if target and at and at ~= target then return 'tool_index' end
    if not target then
      if at and at > count + 1 then return 'past_end' end
      if at and at <= count then
        if entries[at].kind == 'k' then return 'tool_index' end
        return 'other_kind'
      end
      target = count + 1
    end
  else
    target = at or (count + 1)
    if target > count + 1 then return 'past_end' end
    if target <= count and PART_CLASS[entries[target].kind] ~= PART_CLASS[e.kind] then
      return 'other_kind'
    end
  end
  local old = entries[target]
  if e.kind == 't' or (old and old.tbytes) then replace_text(P, target, old, own, e.tlen or 0) end
  P.texts[target], entries[target] = text, e
  return nil
end

-- Text appended at the end of part `i`'s text in the content.
local function grow_text(P, i, text, length)
  local e = P.entries[i]
  local offset = text_offset(P, i) + e.tbytes
  P.content = string.sub(P.content, 1, offset) .. text .. string.sub(P.content, offset + 1)
  P.length = P.length + length
  e.tbytes, e.tlen = e.tbytes + #text, e.tlen + length
end

-- An append of `op` ('text' or 'reasoning') at `where`: `escaped` is the text as inside a JSON
-- string (`escaped_size` as Lambda carries it), `started` the part it starts when it starts
-- one (`started_size`), `own` the text itself when it is content ('' for reasoning), `length`
-- its UTF-16 length. Returns the rule it breaks, or nil.
local function append_part(P, op, where, escaped, started, own, escaped_size, started_size,
    length)
  local entries, count = P.entries, #P.entries
  local kind = 'r'
  if op == 'text' then kind = 'a' end
  local target = nil
  if where == '' then
    target = count + 1
    if count > 0 and entries[count].kind == kind then target = count end
  else
    target = tonumber(where) + 1
    if target > count + 1 then return 'past_end' end
    if target <= count then
      if PART_CLASS[entries[target].kind] ~= PART_CLASS[kind] then return 'other_kind' end
      if entries[target].kind ~= kind then return 'not_appendable' end
    end
  end
  if target == count + 1 then
    local e = {kind = kind, bytes = #started, size = started_size}
    if kind == 'a' then e.tbytes, e.tlen = 0, 0 end
    entries[target], P.texts[target] = e, started
    if kind == 'a' then grow_text(P, target, own, length) end
    return nil
  end
  local text, e = P.texts[target], entries[target]
  if string.sub(text, -#STREAMING_END) ~= STREAMING_END then return 'not_appendable' end
  P.texts[target] = string.sub(text, 1, #text - #STREAMING_END) .. escaped .. STREAMING_END
  e.bytes, e.size = e.bytes + #escaped, e.size + escaped_size
  if kind == 'a' then grow_text(P, target, own, length) end
  return nil
end

-- Apply `count` part changes, PART_CHANGE_WIDTH arguments each from ARGV[first] on
-- (shared/part_index.py, change_args), in order. Returns nil, or the rule a change broke and
-- that change's position (from 0): P is then half changed and must not be written.
local function apply_part_changes(P, first, count)
  for c = 0, count - 1 do
    local at = first + c * PART_CHANGE_WIDTH
    local op, where = ARGV[at], ARGV[at + 1]
    local rule = nil
    if op == 'put' then
      rule = put_part(P, where, ARGV[at + 2], parse_part_entry(ARGV[at + 3]), ARGV[at + 4])
    else
      rule = append_part(P, op, where, ARGV[at + 2], ARGV[at + 3], ARGV[at + 4],
        tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]))
    end
    if rule then return rule, c end
  end
  return nil
end

-- Whether any of `count` part changes from ARGV[first] on appends (which needs a reply still
-- streaming).
local function part_changes_append(first, count)
  for c = 0, count - 1 do
    if ARGV[first + c * PART_CHANGE_WIDTH] ~= 'put' then return true end
  end
  return false
end

-- The reply ended: every part an append started and still streaming is done (only its state
-- changes). Returns whether any part changed.
local function settle_parts(P)
  local changed = false
  for i, e in ipairs(P.entries) do
    if e.kind == 'a' or e.kind == 'r' then
      local text = P.texts[i]
      if string.sub(text, -#STREAMING_END) == STREAMING_END then
        P.texts[i] = string.sub(text, 1, #text - #STREAMING_END) .. DONE_END
        local shorter = #STREAMING_END - #DONE_END
        e.bytes, e.size = e.bytes - shorter, e.size - shorter
      end
      if e.kind == 'a' then e.kind = 't' else e.kind = 'q' end
      changed = true
    end
  end
  return changed
end

-- Whether the index lists a part an append started that may still be streaming (so that a
-- reply that ends without one is not cut apart for nothing).
local function has_streaming_parts(index)
  return index ~= nil and string.find(' ' .. index, ' [ar],') ~= nil
end

-- P as stored: the parts' JSON text, its index, and their size as Lambda carries the text
-- (what shared/limits.py's check_parts measures).
local function stored_parts(P)
  local index, size = {}, 4
  for i, e in ipairs(P.entries) do
    index[i] = part_entry_text(e)
    size = size + e.size
  end
  if #P.entries > 1 then size = size + #P.entries - 1 end
  return '[' .. table.concat(P.texts, ',') .. ']', table.concat(index, ' '), size
end
