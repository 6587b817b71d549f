-- Live pushes (docs/sync.md, "Live pushes"): a write the change feed reports answers, when push
-- is on (A.push = '1'), with the user's connections (K.ws: connection id -> its JSON entry,
-- shared/push.py), so the function pushes to them without a request of its own: still one
-- Upstash request per call. Push off, the answer is as it always was and K.ws is never read.
-- uses: core

-- At most one delta push per conversation per this many ms: the text of a delta skipped rides
-- on the next push (its offset is where the last push ended).
local DELTA_GAP_MS = 250

-- A successful write's answer as sent back: alone with push off; else {answer, the user's
-- connections (HGETALL: field, value, ...), extra: what the pushes need that the answer lacks}.
-- The answer kept for a re-send (remember) is the bare one: a replay pushes nothing again.
local function with_connections(result, extra)
  if A.push ~= '1' then return result end
  return {result, redis.call('HGETALL', K.ws), extra or {}}
end

-- Whether a streamed write to message `mid` pushes a delta now, and with what: nil when one was
-- pushed under DELTA_GAP_MS ago for this message (and this write does not end the reply), else
-- {offset, text}: the content `text` (UTF-16 `length` long) from where the last push ended.
-- The last push is '#pp' in the conversation's message hash ('<ms> <offset> <message id>',
-- read by the write's HMGET and written with its HSET: no command of its own).
local function delta_push(last, mid, text, length, ends)
  local last_ms, last_offset, last_mid = string.match(last or '', '^(%d+) (%d+) (.+)$')
  local offset = 0
  if last_mid == mid then
    if not ends and tonumber(A.now) - tonumber(last_ms) < DELTA_GAP_MS then return nil end
    offset = tonumber(last_offset)
  end
  hset(K.msgs, '#pp', A.now .. ' ' .. text_of(length) .. ' ' .. mid)
  local from, tail = utf16_tail(text, length, offset)
  return {from, tail}
end
