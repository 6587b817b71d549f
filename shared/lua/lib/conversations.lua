-- Writing conversations in the user's keys: a write recorded in the index, the expiry index and
-- the change feed (touch_conversation), conversations removed (drop_conversations) by
-- deletion, expiry or the per-user cap (plan_removals), whole conversations written from a
-- record of arguments (write_conversation), and the preconditions a write checks first.
-- uses: core, user, expiry, feed, records

-- The number of entries in the index (and in the expiry index, which holds the same ids) as the
-- call's writes leave them so far: '#c' as read, less those dropped, plus those added.
local function index_size(S)
  return tonumber(S['#c~now']) or num(S['#c'])
end

-- The pair '#top' (the conversation whose index score is above every other's) and '#tops'
-- (its score) lets a write at the caller's clock to the top skip its ZADD: the order is
-- unchanged. The index then holds a lower score for it than its updatedAt: '#topz' is that
-- score, kept while the index lags ('' or absent when it does not), and '#tops' the true one.
-- A write of another conversation at or above '#topz' first gives the top its true score (so
-- that no other conversation goes above it wrongly), and whatever reads scores takes the
-- top's from '#tops' (top_score_of). S follows every change, as a call may write several
-- conversations.
local function place_in_index(S, id, score)
  local s, top_score, lag = tonumber(score), tonumber(S['#tops']), tonumber(S['#topz'])
  local is_top = S['#top'] == id
  if is_top and score == A.now and top_score and s >= top_score then
    if s > top_score then
      if not lag then
        hset(K.sum, '#topz', S['#tops'])
        S['#topz'] = S['#tops']
      end
      hset(K.sum, '#tops', score)
      S['#tops'] = text_of(score)
    end
    return
  end
  if lag and (is_top or s >= lag) then
    if not is_top then redis.call('ZADD', K.idx, S['#tops'], S['#top']) end
    -- Emptied rather than deleted: it goes with the HSET the write sends anyway, where an
    -- HDEL would be a command of its own.
    hset(K.sum, '#topz', '')
    S['#topz'] = ''
  end
  redis.call('ZADD', K.idx, score, id)
  if not top_score or s > top_score or (is_top and s == top_score) then
    hset(K.sum, '#top', id)
    hset(K.sum, '#tops', score)
    S['#top'], S['#tops'] = id, text_of(score)
  elseif is_top or s == top_score then
    -- The top written lower, or another level with it: none is above every other now.
    hdel(K.sum, '#top')
    S['#top'] = nil
  end
end

-- The score conversation `id` has in the index, as the list orders it: the top's true score
-- while the index lags behind it (place_in_index).
local function top_score_of(S, id, score)
  if tonumber(S['#topz']) and S['#top'] == id then return tonumber(S['#tops']) end
  return score
end

-- Record a write to conversation `id`: updatedAt, list order, version, write epoch (and its
-- entry in the expiry index when the epoch moved on), the list version and, with `change`, the
-- change feed; a tombstone of the id is lifted. Returns true when the conversation's own keys
-- need their expiry re-sent. `S` holds no write epoch of an `id` not in the index (dropped
-- by this call, or never written): it enters both indexes, and creates them when empty.
--
-- Its place in the list: place_in_index.
--
-- Without `score` (and `updated_at`) the conversation keeps its updatedAt and its place in the
-- list: a write that files it away (archiving) is a change to follow, not news to put on top.
local function touch_conversation(S, id, score, updated_at, change)
  if updated_at then hset(K.sum, 'u|' .. id, updated_at) end
  hset(K.sum, 'v|' .. id, num(S['v|' .. id]) + 1)
  bump_list(S)
  if change then feed_change(S, id) end
  if S['x|' .. id] then
    hdel(K.sum, 'x|' .. id)
    feed.revived[#feed.revived + 1] = id
    hset(K.sum, '#tc', math.max(0, num(S['#tc']) - 1))
    S['#tc'] = tostring(math.max(0, num(S['#tc']) - 1))
    S['x|' .. id] = nil
  end
  if not S['w|' .. id] then
    if index_size(S) == 0 then expire_later({K.idx, K.exp}) end
    S['#c~now'] = tostring(index_size(S) + 1)
  end
  if score then place_in_index(S, id, score) end
  if S['w|' .. id] ~= A.epoch then
    hset(K.sum, 'w|' .. id, A.epoch)
    redis.call('ZADD', K.exp, A.epoch, id)
  end
  if S['e|' .. id] ~= A.expire_at then
    hset(K.sum, 'e|' .. id, A.expire_at)
    return true
  end
  return false
end

-- The conversations the cap removes: the `over` least recently updated index entries that are
-- neither in `skip` (a set: already being removed) nor `keep`.
local function eviction_victims(over, skip, keep)
  if over <= 0 then return {} end
  local skipped = 0
  for _ in pairs(skip) do skipped = skipped + 1 end
  local victims = {}
  for _, id in ipairs(redis.call('ZRANGE', K.idx, 0, over + skipped)) do
    if #victims < over and not skip[id] and id ~= keep then victims[#victims + 1] = id end
  end
  return victims
end

-- Remove conversations from the user's keys (index, expiry index, summary fields; the caller
-- updates the totals with what this returns) and leave a tombstone of each in the change feed:
-- `kinds` maps each id to 'deleted', 'evicted' or 'expired' (none: a conversation the call
-- writes anew, which needs no tombstone). Their message keys are not declared
-- here, so they stay until their own Redis expiry, remembered in the graveyard meanwhile so
-- that erasing the user deletes them at once; all but `deleted_now`, whose keys the caller
-- deletes. `S` must hold their 'n', 'k', 'e', 'w' and 'x' fields (read_for_drop). Returns the
-- messages and tokens removed.
local function drop_conversations(S, ids, kinds, deleted_now)
  local messages, tokens = 0, 0
  local graveyard = {}
  local ttl = 0
  if A.expired_before ~= '' then ttl = tonumber(A.now) - tonumber(A.expired_before) end
  local tombstones = num(S['#tc'])
  for _, id in ipairs(ids) do
    messages = messages + num(S['n|' .. id])
    tokens = tokens + num(S['k|' .. id])
    for _, field in ipairs(attr_fields(SUMMARY, id)) do hdel(K.sum, field) end
    if S['#cur'] == id then
      hdel(K.sum, '#cur')
      hdel(K.sum, '#curx')
    end
    if S['#top'] == id then
      hdel(K.sum, '#top')
      hdel(K.sum, '#topz')
      S['#top'], S['#topz'] = nil, nil
    end
    if id ~= deleted_now then
      graveyard[#graveyard + 1] = S['e|' .. id] or '0'
      graveyard[#graveyard + 1] = id
    end
    local kind, when = kinds[id], A.now
    if kind then  -- (none for a conversation the caller writes anew in the same call)
      if kind == 'expired' then when = num(S['w|' .. id]) + ttl end
      hset(K.sum, 'x|' .. id, kind .. ' ' .. text_of(when))
      local seq = feed_change(S, id)
      if not S['x|' .. id] then
        tombstones = tombstones + 1
        feed.added = feed.added + 1
      end
      feed.tombs[#feed.tombs + 1] = seq
      feed.tombs[#feed.tombs + 1] = id
    end
  end
  if #ids == 0 then return messages, tokens end
  bump_list(S)
  hset(K.sum, '#tc', tombstones)
  -- Kept in S too: a conversation written later in the same call (touch_conversation) lifts
  -- its own tombstone from this count, not from the one read before these were added.
  S['#tc'] = tostring(tombstones)
  S['#c~now'] = tostring(index_size(S) - #ids)
  chunked('ZREM', K.idx, ids)
  chunked('ZREM', K.exp, ids)
  if #graveyard > 0 then
    chunked('ZADD', K.gy, graveyard)
    -- Entries whose keys have expired by now are no longer worth remembering ('0': never).
    redis.call('ZREMRANGEBYSCORE', K.gy, 1, '(' .. A.now)
    apply_expiry({K.gy})
  end
  return messages, tokens
end

-- The totals and expiry that removing conversations `ids` needs, read into `S`.
local function read_for_drop(S, ids)
  if #ids == 0 then return end
  local fields = {}
  for _, id in ipairs(ids) do append_all(fields, attr_fields({'n', 'k', 'e', 'w', 'x'}, id)) end
  for field, value in pairs(hmget(K.sum, fields)) do S[field] = value end
end

-- What a write that may add conversation `cid` (when it does not exist yet) removes first: the
-- user's expired conversations, and over the cap (A.cap) the least recently updated. Their
-- fields are read into `S` for drop_conversations. Returns the ids to drop, their tombstones'
-- kinds (none for `cid` itself, written anew), the ids evicted and the number of conversations
-- after the write.
local function plan_removals(S, cid, exists)
  local expired = expired_ids()
  local gone = {}
  for _, id in ipairs(expired) do gone[id] = true end
  local count = num(S['#c']) - #expired
  local victims = {}
  if not exists then
    count = count + 1
    victims = eviction_victims(count - tonumber(A.cap), gone, cid)
    count = count - #victims
  end
  local removed = append_all(append_all({}, expired), victims)
  read_for_drop(S, removed)
  local kinds = {}
  for _, id in ipairs(expired) do
    if id ~= cid then kinds[id] = 'expired' end
  end
  for _, id in ipairs(victims) do kinds[id] = 'evicted' end
  return removed, kinds, victims, count
end

-- Whether the request's If-Match names another version than `version` ('' and '*' name any).
local function stale_version(version)
  return A.if_match ~= '' and A.if_match ~= '*' and tostring(version) ~= A.if_match
end

-- The refusal of a write to conversation `cid`, which must exist: 'not_found' when it is
-- absent or expired, 'precondition_failed' when If-Match names another version; nil to go on.
local function refuse_missing_or_stale(S, quota, cid)
  if not is_live(S, cid) then
    finish_read(S, quota)
    return {quota, 'not_found'}
  end
  local version = num(S['v|' .. cid])
  if stale_version(version) then
    finish_read(S, quota)
    return {quota, 'precondition_failed', version}
  end
  return nil
end

-- Write a whole conversation from a record of arguments starting at ARGV[p]: id, list score
-- (updatedAt in ms), title, createdAt, updatedAt, totalTokens, message count N, mcpServers
-- JSON ('' for none), size (bytes of JSON its messages take), streaming ('1' when a message
-- streams), archived ('1' when archived), F; then F message-hash arguments (field, value
-- pairs) and the N message ids in order. Replaces whatever the conversation's keys held, and records the change in the feed.
-- Both keys are created anew (the message order only when there are messages), so both are
-- queued for the expiry.
local function write_conversation(S, p, msgs, order)
  local id, count = ARGV[p], tonumber(ARGV[p + 6])
  local nvals = tonumber(ARGV[p + 11])
  redis.call('DEL', msgs, order)
  expire_later({msgs})
  if count > 0 then expire_later({order}) end
  for i = p + 12, p + 11 + nvals, CHUNK do
    redis.call('HSET', msgs, unpack(ARGV, i, math.min(i + CHUNK - 1, p + 11 + nvals)))
  end
  redis.call('HSET', msgs, '#seq', count)
  local first = p + 12 + nvals
  local batch = {}
  for j = first, first + count - 1 do
    batch[#batch + 1] = j - first + 1
    batch[#batch + 1] = ARGV[j]
  end
  if #batch > 0 then chunked('ZADD', order, batch) end
  hset(K.sum, 't|' .. id, ARGV[p + 2])
  hset(K.sum, 'c|' .. id, ARGV[p + 3])
  hset(K.sum, 'k|' .. id, ARGV[p + 5])
  hset(K.sum, 'n|' .. id, count)
  hset(K.sum, 'sz|' .. id, ARGV[p + 8])
  hdel(K.sum, 'a|' .. id)
  if ARGV[p + 7] == '' then hdel(K.sum, 'p|' .. id) else hset(K.sum, 'p|' .. id, ARGV[p + 7]) end
  if ARGV[p + 10] == '1' then hset(K.sum, 'ar|' .. id, '1') else hdel(K.sum, 'ar|' .. id) end
  if ARGV[p + 9] == '1' then
    hset(K.sum, 'sm|' .. id, A.now)
  elseif S['sm|' .. id] then
    hdel(K.sum, 'sm|' .. id)
  end
  touch_conversation(S, id, ARGV[p + 1], ARGV[p + 4], true)
  return first + count
end

-- The position of the conversation record after the one at ARGV[p] (see write_conversation).
local function next_record(p)
  return p + 12 + tonumber(ARGV[p + 11]) + tonumber(ARGV[p + 6])
end
