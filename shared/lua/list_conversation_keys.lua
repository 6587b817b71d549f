-- Every key of the user that no index names by key: the conversations that may still have keys
-- (indexed, live or expired, or remembered in the graveyard) and the kept answers of
-- Idempotency-Keys. The first step of erasing a user: the second declares all their keys.
-- KEYS: idx, exp, gy, ik
-- ARGV: (none of its own)
-- Returns {quota (-2: erase_user counts the call), 'ok', {conversation ids}, {answer keys}}.
-- uses: erasure
return {-2, 'ok', conversations_with_keys(), redis.call('ZRANGE', K.ik, 0, -1)}
