-- Finish a running, paused or scheduled campaign whose contacts are all terminal (a safety net:
-- every script that ends a contact already does this; the reconciler calls it in case a change
-- was rolled back by a Redis restart half-way).
-- KEYS: meta, counts, event stream
-- ARGV: now_ms
-- Returns 1 if the campaign just finished
-- uses: prelude
return maybe_finish(KEYS[1], KEYS[2], tonumber(ARGV[1]), KEYS[3])
