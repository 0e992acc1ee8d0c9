-- Serialise every writer of the statistics: counter folds, metadata and reset.
-- A transaction-level lock, released at commit or rollback. It stands alone so
-- that the statements after it take their snapshot once the lock is held.
SELECT pg_advisory_xact_lock(%(lock_key)s::bigint)
