-- Fold every counter of the {{ engine.name }} engine at once from the reset's
-- counts (hiccup_stats_rebuild_counts): per {{ engine.key_column }} and day,
-- insert the rows of {{ engine.version_table }} and
-- {{ engine.daily_table }} (emptied earlier in the same transaction),
-- and move the engine's progress marks to the counts' end. Returns one
-- summary row per counter, as a fold does.
WITH counts AS (
    SELECT
        {{ engine.key_column }} AS version_key,
        day,
{%- for counter in counters %}
        sum({{ counter.name }}) AS {{ counter.name }}{{ "," if not loop.last }}
{%- endfor %}
    FROM hiccup_stats_rebuild_counts
    -- Reports that no counter selects create no rows.
    WHERE {{ counters | map(attribute="name") | join(" + ") }} > 0
{%- if engine.skip_null_key %}
      AND {{ engine.key_column }} IS NOT NULL
{%- endif %}
    GROUP BY version_key, day
),
versions AS (
    INSERT INTO {{ engine.version_table }} AS version (
        {{ engine.key_column }}, is_official_release, is_beta_release,
        first_seen_on, released_on,
        {{ counters | map(attribute="name") | join(", ") }}
    )
    SELECT
        version_key, false, false,
        min(day), min(day),
{%- for counter in counters %}
        sum({{ counter.name }}){{ "," if not loop.last }}
{%- endfor %}
    FROM counts
    GROUP BY version_key
    RETURNING
        version.id,
        version.{{ engine.key_column }} AS version_key,
        {{ counters | map(attribute="name") | join(", ") }}
),
days AS (
    INSERT INTO {{ engine.daily_table }} (
        version_id, date, {{ counters | map(attribute="name") | join(", ") }}
    )
    SELECT
        versions.id,
        counts.day,
{%- for counter in counters %}
        counts.{{ counter.name }}{{ "," if not loop.last }}
{%- endfor %}
    FROM counts
    JOIN versions ON versions.version_key = counts.version_key
    RETURNING {{ counters | map(attribute="name") | join(", ") }}
),
progress AS (
    UPDATE {{ progress_table }} AS progress
    -- The folds that follow count the last late_commit_lookback.
    SET counted_until
            = %(window_end)s::timestamptz - %(late_commit_lookback)s::interval,
        remembered_since
            = %(window_end)s::timestamptz - %(late_commit_lookback)s::interval
    FROM {{ progress_table }} AS before
    WHERE progress.engine = '{{ engine.name }}'
      AND progress.counter IN (
{%- for counter in counters %}
          '{{ counter.name }}'{{ "," if not loop.last }}
{%- endfor %}
      )
      AND before.engine = progress.engine
      AND before.counter = progress.counter
    RETURNING progress.counter, before.counted_until AS counted_from
)
{%- for counter in counters %}
SELECT
    '{{ engine.name }}' AS engine,
    '{{ counter.name }}' AS counter,
    -- ISO 8601 in UTC, as text: a mark at the beginning of time is -infinity.
    (
        SELECT CASE
            WHEN isfinite(counted_from)
                THEN to_char(
                    counted_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
                )
            ELSE counted_from::text
        END
        FROM progress
        WHERE counter = '{{ counter.name }}'
    ) AS counted_from,
    to_char(
        %(window_end)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
    ) AS counted_until,
    (SELECT coalesce(sum({{ counter.name }}), 0) FROM days) AS reports,
    (SELECT count(*) FROM versions WHERE {{ counter.name }} > 0) AS versions_created,
    0 AS versions_updated,
    (SELECT count(*) FROM days WHERE {{ counter.name }} > 0) AS days_created,
    0 AS days_updated
{%- if not loop.last %}
UNION ALL
{%- endif %}
{%- endfor %}
