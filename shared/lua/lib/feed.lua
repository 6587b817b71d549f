-- The change feed (K.chg: conversation ids by the sequence number of their last change) and
-- the tombstones of conversations deleted, evicted or expired (K.tb, and 'x|<id>' in the
-- summary hash). Its writes are collected like the others and sent first by flush().
-- uses: core

-- Tombstones kept per user: a deletion older than the last this many is forgotten, and a device
-- whose feed cursor predates it must list again (410).
local TOMBSTONES = 1000

-- Feed writes, sent by flush(): changed conversations by sequence number, tombstones added to
-- and removed from the tombstone index (and how many of those added are new members).
local feed = {changes = {}, tombs = {}, revived = {}, added = 0}

-- The feed's part of a flush: the changed conversations' new sequence numbers, the tombstone
-- index, and the oldest tombstones forgotten once there are more than TOMBSTONES.
local function flush_feed()
  if #feed.changes > 0 then chunked('ZADD', K.chg, feed.changes) end
  if #feed.revived > 0 then chunked('ZREM', K.tb, feed.revived) end
  if #feed.tombs > 0 then
    local kept = tonumber(pending.by_key[K.sum].set['#tc'])
    -- Kept now, less those this adds: what the index holds once the revived are out. None: it
    -- was empty, or emptied just now, and comes back without an expiry.
    if kept - feed.added == 0 then expire_later({K.tb}) end
    chunked('ZADD', K.tb, feed.tombs)
    if kept > TOMBSTONES then
      local popped = redis.call('ZPOPMIN', K.tb, kept - TOMBSTONES)
      local forgotten = {}
      for i = 1, #popped, 2 do
        forgotten[#forgotten + 1] = popped[i]
        hdel(K.sum, 'x|' .. popped[i])
      end
      chunked('ZREM', K.chg, forgotten)
      hset(K.sum, '#tc', TOMBSTONES)
      hset(K.sum, '#ffl', popped[#popped])
      -- (Neither index empties and comes back here: the tombstone index keeps TOMBSTONES, and
      -- the feed only loses members after this call's changes were added.)
    end
  end
  feed = {changes = {}, tombs = {}, revived = {}, added = 0}
end

before_flush[#before_flush + 1] = flush_feed

-- Record a change of conversation `id` in the change feed: its next sequence number. The
-- feed's generation starts with the user's first change (erasing the user starts a new one).
local function feed_change(S, id)
  -- The user's first change creates the feed's key (a generation has no other way to empty it).
  if num(S['#fseq']) == 0 then expire_later({K.chg}) end
  local seq = num(S['#fseq']) + 1
  S['#fseq'] = tostring(seq)
  hset(K.sum, '#fseq', seq)
  if not S['#fid'] then
    S['#fid'] = A.now
    hset(K.sum, '#fid', A.now)
  end
  feed.changes[#feed.changes + 1] = seq
  feed.changes[#feed.changes + 1] = id
  return seq
end

-- Whether `id` was deleted by the user and the tombstone is still kept: a write that would
-- bring it back must say so.
local function is_deleted(S, id)
  local tomb = S['x|' .. id]
  return tomb ~= nil and string.sub(tomb, 1, 8) == 'deleted '
end
