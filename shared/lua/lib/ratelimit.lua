-- The sliding window of a rate limit, with no I/O: the users' limits (user.lua, rate_limit) and
-- the anonymous sign-ups' (anonymous_signup.lua) decide with it.
-- uses: none

-- The sliding window of upstash-ratelimit's SlidingWindow, decision for decision: requests in
-- the current window plus the previous window's, weighted by how much of it still overlaps.
-- Its state is one string, '<window number> <count> <previous window's count>' (false when
-- there is none). Returns what is left of the window and the new state, or -1 when the request
-- may not pass (the state is then unchanged).
local function sliding_window(state, limit, window, now)
  local current_window = math.floor(now / window)
  local current, previous = 0, 0
  if state then
    local w, c, p = string.match(state, '^(%d+) (%d+) (%d+)$')
    w = tonumber(w)
    if w == current_window then
      current, previous = tonumber(c), tonumber(p)
    elseif w == current_window - 1 then
      previous = tonumber(c)
    end
  end
  local weighted = math.floor((1 - (now % window) / window) * previous)
  if weighted + current >= limit then return -1, state end
  current = current + 1
  return limit - (current + weighted), current_window .. ' ' .. current .. ' ' .. previous
end
