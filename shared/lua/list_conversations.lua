-- A page of the user's conversations, most recently updated first, after the cursor.
-- KEYS: idx, sum (see shared/scripts.py for every script's declared keys and arguments)
-- ARGV: limit, cursor_score ('' for the first page), cursor_id
-- Returns {quota, {id, score, ... up to limit + 1 pairs of live conversations},
--   {summary values (#SUMMARY per conversation) of the first `limit`}}.
-- Expired conversations are left out, not removed: a read writes nothing of the data.
local limit = tonumber(A.limit)
local S = nil  -- the user's fields, read with the first batch's summaries

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

local page, values = {}, {}
local offset, batch = 0, limit + 2
while #page < 2 * (limit + 1) do
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
  if #ids > 0 then
    for i, id in ipairs(ids) do
      if is_live(summaries, id) and #page < 2 * (limit + 1) then
        page[#page + 1] = id
        page[#page + 1] = scores[i]
        if #page <= 2 * limit then append_all(values, values_of(summaries, attr_fields(SUMMARY, id))) end
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
return {quota, page, values}
