-- Change one message: replace or append to its content (a streamed delta), its streaming,
-- editable and token fields, its tool executions (each replaced by id, new ids appended), and
-- replace its UIMessage parts or metadata whole. The content of a message with parts is their
-- text: it changes with new parts (which come with that text as `content`), never alone.
-- KEYS: idx, exp, sum, chg, tb, msgs, order, idem, ik (see recall/remember in lib/)
-- ARGV: cid, mid, content, set_content ('1' when `content` replaces the content),
--   content_length, delta ('' for none), delta_length, sequence ('' when deltas are not
--   numbered), max_chars, streaming ('', '0', '1'), editable ('', '0', '1'), tokens ('' to
--   keep, else the tokens JSON), token_total, return_message ('1' to return the message),
--   if_match ('' none, else a version), size (JSON bytes the patch may add), change ('1'
--   unless the patch is a streamed delta alone: deltas are followed by offset, not through the
--   change feed), parts ('' to keep, else the parts JSON), metadata ('' to keep, else its
--   JSON), then REST: tool id / tool JSON pairs
-- Returns {quota, 'not_found'}, {quota, 'too_large'}, {quota, 'out_of_order', last applied
--   sequence}, {quota, 'finished'} (a delta to a message no longer streaming), {quota,
--   'has_parts'} (a delta or content alone to a message with parts), {quota,
--   'precondition_failed', current version}, or {quota, 'ok', version, message (see
--   read_messages) or {}}.
-- uses: core, user, expiry, records, answers, conversations
local cid, mid = A.cid, A.mid
local S = read_user({'v|' .. cid, 'w|' .. cid, 'e|' .. cid, 'k|' .. cid, 'sz|' .. cid,
  'sm|' .. cid, 'x|' .. cid})
local quota, early = start_write(S)
if early then return early end
local refuse = nil
local M = {}
if is_live(S, cid) then
  local fields = {'t|' .. mid, 'l|' .. mid, 'q|' .. mid, 'kt|' .. mid, 'xo|' .. mid,
    's|' .. mid, 'j|' .. mid}
  if A.delta ~= '' and A.set_content ~= '1' then fields[#fields + 1] = 'c|' .. mid end
  -- Whether it has parts matters only to a change of its content without new ones.
  if (A.delta ~= '' or A.set_content == '1') and A.parts == '' then
    fields[#fields + 1] = 'pt|' .. mid
  end
  M = hmget(K.msgs, fields)
end
local version = num(S['v|' .. cid])
-- A numbered delta already applied is a retry: it answers as it did, whatever version it was
-- sent with.
local retried = A.delta ~= '' and A.sequence ~= ''
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

if not refuse and M['pt|' .. mid] then refuse = {quota, 'has_parts'} end
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
if A.parts ~= '' then hset(K.msgs, 'pt|' .. mid, A.parts) end
if A.metadata ~= '' then hset(K.msgs, 'md|' .. mid, A.metadata) end
if A.streaming ~= '' then hset(K.msgs, 's|' .. mid, A.streaming) end
if A.streaming == '1' then hdel(K.msgs, 'i|' .. mid) end
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
if REST <= #ARGV then
  local order = M['xo|' .. mid] or ''
  local known = {}
  for tid in string.gmatch(order, '%S+') do known[tid] = true end
  for i = REST, #ARGV, 2 do
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
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso, A.change == '1')
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, num(S['#c']))
if A.return_message ~= '1' then
  local result = remember(S, {quota, 'ok', version + 1, {}})
  flush()
  send_expiries()
  return result
end
flush()
send_expiries()
-- The message as written is read back, so its answer is kept with a write of its own.
local result = remember(S, {quota, 'ok', version + 1, (read_messages(K.msgs, {mid}))})
flush()
return result
