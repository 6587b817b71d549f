-- Change one message: replace or append to its content (a streamed delta), its streaming,
-- editable and token fields, its tool executions (each replaced by id, new ids appended), and
-- replace its UIMessage parts or metadata whole, or change its parts one by one (partChanges:
-- lib/parts.lua). The content of a message with parts is their text: it changes with new parts
-- (which come with that text as `content`) or with its parts' changes, never alone. A reply
-- that ends (streaming '0') has the parts an append started stored as done.
-- KEYS: idx, exp, sum, chg, tb, msgs, order, idem, ik (see recall/remember in lib/)
-- ARGV: cid, mid, content, set_content ('1' when `content` replaces the content),
--   content_length, delta ('' for none), delta_length, sequence ('' when deltas are not
--   numbered), max_chars, streaming ('', '0', '1'), editable ('', '0', '1'), tokens ('' to
--   keep, else the tokens JSON), token_total, return_message ('1' to return the message),
--   if_match ('' none, else a version), size (JSON bytes the patch may add), change ('1'
--   unless the patch is a streamed delta alone: deltas are followed by offset, not through the
--   change feed; 'p' when the patch is part changes alone: a change unless the message
--   streams), parts ('' to keep, else the parts JSON), parts_index (their index, 'pi'),
--   metadata ('' to keep, else its JSON), interrupted ('', '0', '1'), part_changes (how many,
--   '' for none), max_parts, max_parts_bytes, then REST: the part changes (8 values each,
--   shared/part_index.py), then tool id / tool JSON pairs
-- Returns {quota, 'not_found'}, {quota, 'too_large'}, {quota, 'out_of_order', last applied
--   sequence}, {quota, 'finished'} (a delta to a message no longer streaming), {quota,
--   'has_parts'} (a delta or content alone to a message with parts), {quota, 'part_conflict',
--   rule, change}, {quota, 'parts_too_large', setting, limit}, {quota,
--   'precondition_failed', current version}, or {quota, 'ok', version, message (see
--   read_messages) or {}}.
-- Push (lib/push.lua): KEYS ws, ARGV push; with push on, a success answers {that answer,
--   connections, extra}; extra: see the end of this file.
-- uses: core, user, expiry, records, answers, conversations, parts, push
local cid, mid = A.cid, A.mid
local S = read_user({'v|' .. cid, 'w|' .. cid, 'e|' .. cid, 'k|' .. cid, 'sz|' .. cid,
  'sm|' .. cid, 'x|' .. cid})
local quota, early = start_write(S)
if early then return early end
local refuse = nil
local M = {}
local part_changes = num(A.part_changes)
local content_alone = (A.delta ~= '' or A.set_content == '1') and A.parts == ''
local ends = A.streaming == '0'
if is_live(S, cid) then
  local fields = {'t|' .. mid, 'l|' .. mid, 'q|' .. mid, 'kt|' .. mid, 'xo|' .. mid,
    's|' .. mid, 'j|' .. mid}
  if A.delta ~= '' and A.set_content ~= '1' then fields[#fields + 1] = 'c|' .. mid end
  -- Whether it has parts matters only to a change of its content without new ones.
  if content_alone then fields[#fields + 1] = 'pt|' .. mid end
  if part_changes > 0 then append_all(fields, {'pt|' .. mid, 'pi|' .. mid, 'c|' .. mid}) end
  if ends and part_changes == 0 and A.parts == '' then
    append_all(fields, {'pt|' .. mid, 'pi|' .. mid})
  end
  -- A streamed write pushes the content from the last push's end on (lib/push.lua): it reads
  -- the content, whether it has parts and the last push with the fields it reads anyway.
  if A.push == '1' and (ends or A.change ~= '1') then
    append_all(fields, {'c|' .. mid, 'l|' .. mid, 'pt|' .. mid, '#pp'})
  end
  M = hmget(K.msgs, fields)
end
local version = num(S['v|' .. cid])
-- A numbered delta (appendContent or partChanges) already applied is a retry: it answers as
-- it did, whatever version it was sent with.
local retried = (A.delta ~= '' or part_changes > 0) and A.sequence ~= ''
  and tonumber(A.sequence) <= num(M['q|' .. mid])
if not M['t|' .. mid] then
  refuse = {quota, 'not_found'}
elseif stale_version(version) and not retried then
  refuse = {quota, 'precondition_failed', version}
end
-- A numbered delta alone that was applied already writes nothing at all: run again (a retry
-- whose first answer was lost), it answers as the first run did, at the version now.
if not refuse and retried and A.change ~= '1' then
  finish_read(S, quota)
  local message = {}
  if A.return_message == '1' then message = read_messages(K.msgs, {mid}) end
  return {quota, 'ok', version, message}
end

if not refuse and content_alone and M['pt|' .. mid] then refuse = {quota, 'has_parts'} end
local max_chars = tonumber(A.max_chars)
local content, length = nil, nil
if not refuse and A.set_content == '1' then
  content, length = A.content, tonumber(A.content_length)
  if length > max_chars then refuse = {quota, 'too_large'} end
end
local delta, sequence = A.delta, A.sequence
local applied_sequence = nil
if not refuse and delta ~= '' then
  local append = true
  if sequence ~= '' then
    local last = num(M['q|' .. mid])
    if tonumber(sequence) <= last then
      append = false  -- a retry of a delta already appended: append nothing
    elseif tonumber(sequence) ~= last + 1 then
      refuse = {quota, 'out_of_order', last}
    end
  end
  if not refuse and append and M['s|' .. mid] == '0' and A.streaming ~= '1' then
    refuse = {quota, 'finished'}
  end
  if not refuse and append then
    if not content then content, length = M['c|' .. mid] or '', num(M['l|' .. mid]) end
    content = content .. delta
    length = length + tonumber(A.delta_length)
    if length > max_chars then refuse = {quota, 'too_large'} end
    if sequence ~= '' then applied_sequence = sequence end
  end
end
-- Part changes, all or none: applied to a copy of the parts, written only when every one fits.
local P = nil
local max_parts, max_parts_bytes = tonumber(A.max_parts), tonumber(A.max_parts_bytes)
local first_tool = REST + part_changes * PART_CHANGE_WIDTH
if not refuse and part_changes > 0 and not retried then
  if sequence ~= '' then
    local last = num(M['q|' .. mid])
    if tonumber(sequence) ~= last + 1 then refuse = {quota, 'out_of_order', last} end
  end
  if not refuse and M['s|' .. mid] == '0' and A.streaming ~= '1'
    and part_changes_append(REST, part_changes) then
    refuse = {quota, 'finished'}
  end
  if not refuse then
    local rule = nil
    P, rule = load_parts(M['pt|' .. mid], M['pi|' .. mid], M['c|' .. mid] or '',
      num(M['l|' .. mid]))
    if not P then
      refuse = {quota, 'part_conflict', rule, 0}
    else
      local broken, at = apply_part_changes(P, REST, part_changes)
      if broken then refuse = {quota, 'part_conflict', broken, at} end
    end
  end
  if not refuse and sequence ~= '' then applied_sequence = sequence end
end
-- A reply that ends: the parts an append started are done (read only when the index says
-- there are such parts; new whole parts have none).
if not refuse and ends and A.parts == '' then
  if not P and has_streaming_parts(M['pi|' .. mid]) then
    P = load_parts(M['pt|' .. mid], M['pi|' .. mid], M['c|' .. mid] or '', num(M['l|' .. mid]))
  end
  if P then settle_parts(P) end
end
local parts_text, parts_index = nil, nil
if not refuse and P then
  local size = 0
  parts_text, parts_index, size = stored_parts(P)
  if #P.entries > max_parts then
    refuse = {quota, 'parts_too_large', 'MAX_PARTS_PER_MESSAGE', max_parts}
  elseif size > max_parts_bytes then
    refuse = {quota, 'parts_too_large', 'MAX_PARTS_BYTES', max_parts_bytes}
  elseif P.length > max_chars then
    refuse = {quota, 'too_large'}
  end
end
if refuse then
  finish_read(S, quota)
  return refuse
end

-- Nothing below refuses the call.
hset(K.msgs, 'u|' .. mid, A.now)
if applied_sequence then hset(K.msgs, 'q|' .. mid, applied_sequence) end
if content then
  hset(K.msgs, 'c|' .. mid, content)
  hset(K.msgs, 'l|' .. mid, length)
end
if A.parts ~= '' then
  hset(K.msgs, 'pt|' .. mid, A.parts)
  hset(K.msgs, 'pi|' .. mid, A.parts_index)
  -- A reply reopened with its parts whole (a turn continued after a tool approval) is a new
  -- stream: its deltas are numbered from 1 again, so its writer need not know the old count.
  if A.streaming == '1' then hset(K.msgs, 'q|' .. mid, 0) end
end
if parts_text then
  hset(K.msgs, 'pt|' .. mid, parts_text)
  hset(K.msgs, 'pi|' .. mid, parts_index)
  if P.content ~= (M['c|' .. mid] or '') then
    hset(K.msgs, 'c|' .. mid, P.content)
    hset(K.msgs, 'l|' .. mid, P.length)
  end
end
if A.metadata ~= '' then hset(K.msgs, 'md|' .. mid, A.metadata) end
if A.streaming ~= '' then hset(K.msgs, 's|' .. mid, A.streaming) end
if A.streaming == '1' then hdel(K.msgs, 'i|' .. mid) end
if A.interrupted ~= '' then hset(K.msgs, 'i|' .. mid, A.interrupted) end
if A.editable ~= '' then hset(K.msgs, 'e|' .. mid, A.editable) end
if A.tokens ~= '' then
  local given, old = tonumber(A.token_total), num(M['kt|' .. mid])
  hset(K.msgs, 'k|' .. mid, A.tokens)
  hset(K.msgs, 'kt|' .. mid, given)
  if given ~= old then
    hset(K.sum, 'k|' .. cid, total(num(S['k|' .. cid]) + given - old))
    hset(K.sum, '#k', total(num(S['#k']) + given - old))
  end
end
if first_tool <= #ARGV then
  local order = M['xo|' .. mid] or ''
  local known = {}
  for tid in string.gmatch(order, '%S+') do known[tid] = true end
  for i = first_tool, #ARGV, 2 do
    local tid = ARGV[i]
    if not known[tid] then
      order = (order == '' and tid) or (order .. ' ' .. tid)
      known[tid] = true
    end
    hset(K.msgs, 'x|' .. mid .. '|' .. tid, ARGV[i + 1])
  end
  hset(K.msgs, 'xo|' .. mid, order)
end
local size = tonumber(A.size)
if size ~= 0 then
  hset(K.msgs, 'j|' .. mid, num(M['j|' .. mid]) + size)
  hset(K.sum, 'sz|' .. cid, num(S['sz|' .. cid]) + size)
end
local streaming = A.streaming
if streaming == '' then streaming = M['s|' .. mid] end
if streaming == '1' then
  hset(K.sum, 'sm|' .. cid, A.now)
elseif A.streaming == '0' and (S['sm|' .. cid] or '') ~= '' then
  hset(K.sum, 'sm|' .. cid, '')  -- (emptied, not deleted: the summary hash gets one HSET)
end
-- Part changes alone are a streamed delta while the reply streams, an edit once it ended.
local change = A.change == '1' or (A.change == 'p' and M['s|' .. mid] ~= '1')
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso, change)
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, num(S['#c']))
-- With push on, extra is {1 when the write is a change the feed reports, else 0}, then, when
-- it pushes a delta (a streamed write to a streaming reply, not skipped by the coalescing, or
-- the write that ends it): offset, text, streaming 1/0, has parts 1/0.
local extra = {change and 1 or 0}
if A.push == '1' and (ends or A.change ~= '1') and (ends or streaming == '1') then
  local text = content or (P and P.content) or M['c|' .. mid] or ''
  local text_length = length or (P and P.length) or num(M['l|' .. mid])
  local delta_pushed = delta_push(M['#pp'], mid, text, text_length, ends)
  if delta_pushed then
    local has_parts = (A.parts ~= '' or parts_text or M['pt|' .. mid]) and 1 or 0
    append_all(extra, {delta_pushed[1], delta_pushed[2], ends and 0 or 1, has_parts})
  end
end
if A.return_message ~= '1' then
  local result = remember(S, {quota, 'ok', version + 1, {}})
  flush()
  send_expiries()
  return with_connections(result, extra)
end
flush()
send_expiries()
-- The message as written is read back, so its answer is kept with a write of its own.
local result = remember(S, {quota, 'ok', version + 1, (read_messages(K.msgs, {mid}))})
flush()
return with_connections(result, extra)
