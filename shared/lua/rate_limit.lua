-- Count one request against a sliding window kept in one string key (anonymous sign-ups, per
-- client IP): the same decisions as the users' limits and upstash-ratelimit's SlidingWindow.
-- KEYS: window
-- ARGV: (rl_max and rl_window: the limit and its window in ms; now)
-- Returns {what is left of the window, or -1 when the request may not pass}.
local window = tonumber(A.rl_window)
local remaining, state = sliding_window(redis.call('GET', K.window), tonumber(A.rl_max),
  window, tonumber(A.now))
if remaining >= 0 then redis.call('SET', K.window, state, 'PX', 2 * window + 1000) end
return {remaining}
