-- A page of the user's conversations, most recently updated first, after the cursor.
-- KEYS: idx, sum (see shared/scripts.py for every script's declared keys and arguments)
-- ARGV: limit, cursor_score ('' for the first page), cursor_id, if_none_match (the list
--   version the caller holds, '' for none), budget (export: the JSON bytes the page's
--   conversations may take, '' for no budget), archived ('' every conversation, '1' only
--   archived ones, '0' only those not archived)
-- Returns {quota, 'not_modified'} when the list version is still `if_none_match`, else
--   {quota, 'ok', {id, score, ... up to limit + 1 pairs of live conversations},
--   {summary values (#SUMMARY per conversation) of the first `limit`}, list version, feed
--   generation, feed sequence, resume}. Under a budget the page stops before the conversation
--   that would exceed it (never before the first). `resume` is {} or, when a filtered page
--   stopped at its window with fewer than limit + 1 found, {id, score} of the last entry it
--   looked at: the next page starts after it.
-- Expired conversations are left out, not removed: a read writes nothing of the data.
-- A filtered page looks at a window of the index in one batch: as many entries as the HMGET
-- chunks an unfiltered page of this limit reads its summaries in anyway (with the user's
-- fields) can hold, so it costs the same commands however many conversations the filter
-- passes over (70 entries up to limit 68, 141 up to 100). A short page, even an empty one,
-- then says where to go on.
-- uses: core, user, expiry, records
local limit = tonumber(A.limit)
local window = nil  -- (nil: unfiltered, no window)
if A.archived ~= '' then
  local user_fields = #USER + 3  -- (read_user's own: the user's, rate limit, request id)
  local chunks = math.ceil(((limit + 2) * #SUMMARY + user_fields) / CHUNK)
  window = math.floor((chunks * CHUNK - user_fields) / #SUMMARY)
end
-- Whether conversation `id` is one the page shows (its summary fields are in `summaries`).
local function wanted(summaries, id)
  return not window or (summaries['ar|' .. id] == '1') == (A.archived == '1')
end
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
-- (+1: the cursor's own entry, which comes first and is not looked at.)
if window then batch = window + 1 end
local full = false
-- A filtered page: the entries looked at, the last of them, whether its window left some.
local looked, resume, more = 0, {}, false
while #page < 2 * (limit + 1) and not full do
  local got = redis.call('ZREVRANGEBYSCORE', K.idx, top, '-inf', 'WITHSCORES',
    'LIMIT', offset, batch)
  offset = offset + #got / 2
  local ids, scores = {}, {}
  for i = 1, #got, 2 do
    if after_cursor(got[i], got[i + 1]) then
      if window and looked + #ids >= window then
        more = true  -- (past the window: the next page's)
      else
        ids[#ids + 1] = got[i]
        scores[#scores + 1] = got[i + 1]
      end
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
    local open = #page < 2 * (limit + 1) and not full
    if open and window then
      looked = looked + 1
      resume = {id, scores[i]}
    end
    if open and is_live(summaries, id) and wanted(summaries, id) then
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
  if window and looked >= window then
    more = true
    break
  end
  -- Expired conversations filled part of the batch: look further, in growing steps.
  batch = batch * 2
end
-- Only a window used up before the page filled leaves something to resume: a full page has its
-- extra entry, and an index read to its end has nothing after it.
if #page >= 2 * (limit + 1) or not more then resume = {} end
local quota = rate_limit(S)
if quota == -1 then return {-1} end
finish_read(S, quota)
return {quota, 'ok', page, values, S['#lv'] or '0', S['#fid'] or '0', S['#fseq'] or '0',
  resume}
