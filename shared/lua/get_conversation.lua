-- A conversation's summary and one page of its messages, newest first, before a sequence.
-- KEYS: sum, msgs, order
-- ARGV: cid, limit, before ('' for the newest page), budget (characters of content at most),
--   budget_bytes (bytes the messages may take in the response as Lambda returns it),
--   if_none_match (the entity tag the caller holds, '' for none), stale_ms (how long a reply
--   may go without a delta before it reads as interrupted)
-- The entity tag is the version, plus 'i' while a reply has gone stale: the page a stale reply
-- is on reads differently (interrupted) though nothing was written.
-- Returns {quota, 'not_found'} when absent or expired, {quota, 'not_modified', tag} when the
--   tag is still `if_none_match`, else {quota, 'ok', tag, summary values, {message id,
--   sequence, ...} of the page (newest first), 1 when older messages remain, messages (see
--   read_messages)}.
-- uses: core, user, expiry, records
local cid, limit = A.cid, tonumber(A.limit)
local S = read_user(attr_fields(SUMMARY, cid))
local quota = rate_limit(S)
if quota == -1 then return {-1} end
if not is_live(S, cid) then
  finish_read(S, quota)
  return {quota, 'not_found'}
end
local tag = S['v|' .. cid] or '0'
local streamed = S['sm|' .. cid]
if streamed and streamed ~= '' and tonumber(A.now) - tonumber(streamed) > tonumber(A.stale_ms) then
  tag = tag .. 'i'
end
if tag == A.if_none_match then
  finish_read(S, quota)
  return {quota, 'not_modified', tag}
end
local upper = '+inf'
if A.before ~= '' then upper = '(' .. A.before end
local page = redis.call('ZREVRANGEBYSCORE', K.order, upper, '-inf', 'WITHSCORES',
  'LIMIT', 0, limit + 1)
local ids = {}
for i = 1, math.min(#page, 2 * limit), 2 do ids[#ids + 1] = page[i] end
local more = #page > 2 * limit
local messages, kept = {{}, {}}, 0
if #ids > 0 then messages, kept = read_messages(K.msgs, ids, tonumber(A.budget),
  tonumber(A.budget_bytes)) end
if kept < #ids then more = true end
local pairs_kept = {unpack(page, 1, 2 * kept)}
finish_read(S, quota)
return {quota, 'ok', tag, values_of(S, attr_fields(SUMMARY, cid)), pairs_kept, more and 1 or 0,
  messages}
