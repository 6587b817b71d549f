-- Rename a conversation and/or change its mcpServers; it becomes the most recently updated.
-- KEYS: idx, exp, sum, chg, tb, msgs, order (their expiry follows the conversation's last
--   write), idem, ik (see recall/remember in lib/)
-- ARGV: cid, set_title ('1' to set it), title, set_mcp ('1' to set them), mcp ('' to
--   remove), if_match ('' none, else a version)
-- Returns {quota, 'not_found'}, {quota, 'precondition_failed', current version}, or {quota,
--   'ok', summary values}.
-- uses: core, user, expiry, records, answers, conversations
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
local expire_conversation = touch_conversation(S, cid, A.now, A.now_iso, true)
-- (The summary as written: touch_conversation wrote these two without reading them back.)
S['u|' .. cid] = A.now_iso
S['v|' .. cid] = tostring(num(S['v|' .. cid]) + 1)
local summary = values_of(S, attr_fields(SUMMARY, cid))
if expire_conversation then expire_later({K.msgs, K.order}) end
user_expiry(S, num(S['#c']))
local result = remember(S, {quota, 'ok', summary})
flush()
send_expiries()
return result
