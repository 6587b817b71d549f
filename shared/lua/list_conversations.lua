-- A page of the user's conversations, most recently updated first, after the cursor.
-- KEYS: idx, sum (see shared/scripts.py for every script's declared keys and arguments)
-- ARGV: limit, cursor_score ('' for the first page), cursor_id, if_none_match (the list
--   version the caller holds, '' for none), budget (export: the JSON bytes the page's
--   conversations may take, '' for no budget)
-- Returns {quota, 'not_modified'} when the list version is still `if_none_match`, else
--   {quota, 'ok', {id, score, ... up to limit + 1 pairs of live conversations},
--   {summary values (#SUMMARY per conversation) of the first `limit`}, list version, feed
--   generation, feed sequence}. Under a budget the page stops before the conversation that
--   would exceed it (never before the first).
-- Expired conversations are left out, not removed: a read writes nothing of the data.
-- uses: core, user, expiry, records
local limit = tonumber(A.limit)
local S = nil  -- the user's fields, read with the first batch's summaries
if A.if_none_match ~= '' then
  -- A conditional read: the user's fields first, and nothing else when nothing changed.
  S = read_user()
  if (S['#lv'] or '0') == A.if_none_match then
    local quota = rate_limit(S)
    if quota == -1 then return {-1} end
    finish_read(S, quota)
    return {quota, 'not_modified'}
  end
end

local top, cursor_score = '+inf', nil
if A.cursor_score ~= '' then
  top, cursor_score = A.cursor_score, tonumber(A.cursor_score)
end
-- Same-millisecond neighbours of the cursor come first (reverse id order, as ZREVRANGEBYSCORE
-- sorts ties): those at or before the cursor's id were on an earlier page. A page never
-- repeats or skips a conversation.
local function after_cursor(id, score)
  return not cursor_score or tonumber(score) < cursor_score or id < A.cursor_id
end

local budget = tonumber(A.budget)
local used = 0
local page, values = {}, {}
local offset, batch = 0, limit + 2
local full = false
while #page < 2 * (limit + 1) and not full do
  local got = redis.call('ZREVRANGEBYSCORE', K.idx, top, '-inf', 'WITHSCORES',
    'LIMIT', offset, batch)
  offset = offset + #got / 2
  local ids, scores = {}, {}
  for i = 1, #got, 2 do
    if after_cursor(got[i], got[i + 1]) then
      ids[#ids + 1] = got[i]
      scores[#scores + 1] = got[i + 1]
    end
  end
  local summaries = {}
  if not S then
    S = read_user(summary_fields(ids))
    summaries = S
  elseif #ids > 0 then
    summaries = hmget(K.sum, summary_fields(ids))
  end
  for i, id in ipairs(ids) do
    if is_live(summaries, id) and #page < 2 * (limit + 1) and not full then
      if budget and #page > 0 and #page < 2 * limit then
        used = used + num(summaries['sz|' .. id])
        -- Over the budget: this one starts the next page (the extra entry says there is one).
        if used > budget then full = true end
      elseif budget then
        used = used + num(summaries['sz|' .. id])
      end
      page[#page + 1] = id
      page[#page + 1] = scores[i]
      if #page <= 2 * limit and not full then
        append_all(values, values_of(summaries, attr_fields(SUMMARY, id)))
      end
    end
  end
  if #got < 2 * batch then break end
  -- Expired conversations filled part of the batch: look further, in growing steps.
  batch = batch * 2
end
local quota = rate_limit(S)
if quota == -1 then return {-1} end
finish_read(S, quota)
return {quota, 'ok', page, values, S['#lv'] or '0', S['#fid'] or '0', S['#fseq'] or '0'}
