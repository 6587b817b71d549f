-- Rename a conversation, change its mcpServers and/or archive it. A rename or an mcpServers
-- change makes it the most recently updated; archiving or unarchiving alone keeps its
-- updatedAt and place in the list (the change feed reports it all the same).
-- KEYS: idx, exp, sum, chg, tb, msgs, order (their expiry follows the conversation's last
--   write), idem, ik (see recall/remember in lib/)
-- ARGV: cid, set_title ('1' to set it), title, set_mcp ('1' to set them), mcp ('' to
--   remove), archived ('' to leave it, '1' to archive, '0' to unarchive), if_match ('' none,
--   else a version)
-- Returns {quota, 'not_found'}, {quota, 'precondition_failed', current version}, or {quota,
--   'ok', summary values}.
-- Push (lib/push.lua): KEYS ws, ARGV push; with push on, a success answers {that answer,
--   connections, extra}; no extra.
-- uses: core, user, expiry, records, answers, conversations, push
local cid = A.cid
local S = read_user(attr_fields(SUMMARY, cid))
local quota, early = start_write(S)
if early then return early end
local refused = refuse_missing_or_stale(S, quota, cid)
if refused then return refused end

-- Nothing below refuses the call.
if A.set_title == '1' then
  hset(K.sum, 't|' .. cid, A.title)
  hdel(K.sum, 'a|' .. cid)
  S['t|' .. cid], S['a|' .. cid] = A.title, nil
end
if A.set_mcp == '1' then
  if A.mcp == '' then
    hdel(K.sum, 'p|' .. cid)
    S['p|' .. cid] = nil
  else
    hset(K.sum, 'p|' .. cid, A.mcp)
    S['p|' .. cid] = A.mcp
  end
end
if A.archived == '1' then
  hset(K.sum, 'ar|' .. cid, '1')
  S['ar|' .. cid] = '1'
elseif A.archived == '0' then
  hdel(K.sum, 'ar|' .. cid)
  S['ar|' .. cid] = nil
end
-- Archiving alone files the conversation away: the order stays (no score, no updatedAt).
local moves = A.set_title == '1' or A.set_mcp == '1'
local expire_conversation = touch_conversation(S, cid, moves and A.now or nil,
  moves and A.now_iso or nil, true)
-- (The summary as written: touch_conversation wrote these two without reading them back.)
if moves then S['u|' .. cid] = A.now_iso end
S['v|' .. cid] = tostring(num(S['v|' .. cid]) + 1)
local summary = values_of(S, attr_fields(SUMMARY, cid))
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, num(S['#c']))
local result = remember(S, {quota, 'ok', summary})
flush()
send_expiries()
return with_connections(result)
