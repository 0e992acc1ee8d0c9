-- Record the window end in {{ metadata_table }} once every counter of every
-- engine has counted up to it. A window already covered (by a later window or
-- a reset cut-off) adds no row, so the latest updated_at never moves back.
INSERT INTO {{ metadata_table }} (updated_at)
SELECT %(window_end)s::timestamptz
WHERE NOT EXISTS (
        SELECT FROM {{ metadata_table }}
        WHERE updated_at >= %(window_end)s::timestamptz
    )
  AND NOT EXISTS (
        SELECT FROM {{ progress_table }}
        WHERE counted_until < %(window_end)s::timestamptz
    )
RETURNING updated_at
