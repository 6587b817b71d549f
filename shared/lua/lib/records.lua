-- The record layouts: a conversation's summary attributes and a message's, as kept in the summary
-- and message hashes and answered to Python (shared/records.py declares the same lists, and
-- shared/scripts.py checks the two agree at import), and the reads that answer them.
-- uses: core

-- A conversation's summary attributes, each kept as '<attr>|<conversation id>' in the summary
-- hash, and a message's attributes read back for a page, '<attr>|<message id>' in the message
-- hash; a script answers their values in this order. What each is: shared/records.py (the
-- same lists, checked equal at import).
local SUMMARY = {'t', 'c', 'u', 'n', 'k', 'p', 'v', 'a', 'w', 'e', 'x', 'sz', 'sm', 'ar'}
local MESSAGE = {'t', 'ts', 's', 'k', 'e', 'u', 'i', 'xo', 'l', 'j'}
-- A message's body, read once the page's budget is known: content, UIMessage parts and
-- metadata (JSON text, absent when none was sent).
local MESSAGE_BODY = {'c', 'pt', 'md'}
-- Written but never read back for a page: token total, last applied delta sequence.
local MESSAGE_BOOKKEEPING = {'kt', 'q'}

-- The summary fields of every conversation in `ids`.
local function summary_fields(ids)
  local fields = {}
  for _, id in ipairs(ids) do append_all(fields, attr_fields(SUMMARY, id)) end
  return fields
end

-- The messages `ids` of message hash `key`, as {attribute values (#MESSAGE per message),
-- {body (#MESSAGE_BODY), then tool execution JSON in 'xo' order, per message}}. With `budget`
-- (content length, 'l') and `bytes` (size in the response as Lambda returns it, 'j'), only the
-- first messages within both are read (never fewer than one); the second value is how many were.
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
    append_all(rest, attr_fields(MESSAGE_BODY, mid))
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
