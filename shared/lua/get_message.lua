-- One message, its content from an offset on: how a device follows a reply streaming on
-- another, paying for the new text only.
-- KEYS: sum, msgs
-- ARGV: cid, mid, after (UTF-16 code units of content the caller has, as JavaScript counts),
--   if_none_match (the entity tag the caller holds, '' for none), stale_ms (how long a reply
--   may go without a delta before it reads as interrupted)
-- The entity tag is the conversation's version, plus 'i' once the message has gone stale: every
-- write to the conversation (a streamed delta included) bumps the version, whereas the
-- message's last update (ms) stays the same for two writes in one millisecond, and a tag built
-- on it would answer 304 to a poll that missed the second one.
-- Parts and metadata come whole with every 200: they are replaced whole, never appended to.
-- Returns {quota, 'not_found'}, {quota, 'not_modified', tag}, or {quota, 'ok', tag, attribute
--   values (#MESSAGE), offset the text starts at, the text from there, parts JSON, metadata
--   JSON, tool execution JSON...}.
-- uses: core, user, expiry, records
local cid, mid = A.cid, A.mid
local S = read_user({'w|' .. cid, 'v|' .. cid})
local quota = rate_limit(S)
if quota == -1 then return {-1} end
local M = {}
if is_live(S, cid) then M = hmget(K.msgs, attr_fields(MESSAGE, mid)) end
if not M['t|' .. mid] then
  finish_read(S, quota)
  return {quota, 'not_found'}
end
local tag = S['v|' .. cid] or '0'
if M['s|' .. mid] == '1' and tonumber(A.now) - num(M['u|' .. mid]) > tonumber(A.stale_ms) then
  tag = tag .. 'i'
end
if tag == A.if_none_match then
  finish_read(S, quota)
  return {quota, 'not_modified', tag}
end
local rest = attr_fields(MESSAGE_BODY, mid)
for tid in string.gmatch(M['xo|' .. mid] or '', '%S+') do
  rest[#rest + 1] = 'x|' .. mid .. '|' .. tid
end
local R = hmget(K.msgs, rest)
local text = R['c|' .. mid] or ''
local total = num(M['l|' .. mid])
local offset, tail = utf16_tail(text, total, math.max(0, tonumber(A.after)))
finish_read(S, quota)
local result = {quota, 'ok', tag, values_of(M, attr_fields(MESSAGE, mid)), offset,
  tail}
for i = 2, #rest do result[#result + 1] = R[rest[i]] or false end
return result
