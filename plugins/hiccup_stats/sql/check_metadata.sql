-- Check the stats metadata: each recorded time is later than the one recorded
-- before it (it never moves back), the latest covers the window just counted,
-- and every progress mark has reached it. One row: the verdicts, then details.
WITH recorded AS (
    SELECT
        id,
        updated_at,
        lag(updated_at) OVER (ORDER BY id) AS recorded_before
    FROM {{ metadata_table }}
),
backwards AS (
    SELECT 'row ' || id || ': ' || updated_at || ' after ' || recorded_before
        AS offence
    FROM recorded
    WHERE updated_at <= recorded_before
),
behind AS (
    SELECT engine || ' / ' || counter || ' counted only up to ' || counted_until
        AS offence
    FROM {{ progress_table }}
    WHERE counted_until < (SELECT max(updated_at) FROM {{ metadata_table }})
)
SELECT
    NOT EXISTS (SELECT FROM backwards) AS never_moves_back,
    coalesce(
        (SELECT max(updated_at) FROM {{ metadata_table }})
            >= %(window_end)s::timestamptz,
        false
    ) AS covers_the_window,
    NOT EXISTS (SELECT FROM behind) AS counters_reach_it,
    concat_ws(
        '; ',
        'latest recorded '
            || coalesce((SELECT max(updated_at) FROM {{ metadata_table }})::text, 'none')
            || ', window end ' || %(window_end)s::timestamptz,
        (SELECT string_agg(offence, '; ') FROM (SELECT offence FROM backwards LIMIT 20) AS rows),
        (SELECT string_agg(offence, '; ') FROM behind)
    ) AS details
