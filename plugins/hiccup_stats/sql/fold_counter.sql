-- Fold the {{ counter.name }} counter of the {{ engine.name }} engine: count the
-- reports received after the counter's progress mark and up to the window end,
-- per {{ engine.key_column }} and day, add them to {{ engine.version_table }} and
-- {{ engine.daily_table }}, and move the mark to the window end, in one
-- statement. A window that ends at or before the mark counts nothing, so a
-- retried or re-run fold never counts a report twice.
--
-- Late commits: Hiccup stamps created_at before its transaction commits, so a
-- report stamped before the mark can become visible after the fold that moved
-- the mark. The fold therefore also reads the reports stamped up to
-- late_commit_lookback before the mark, and counts those that are not in the
-- ledger of reports this counter counted; it records what it counts there.
-- Report ids, not transaction ids: an UPDATE of a counted report (Hiccup
-- updates a crash report when its log file arrives) leaves it counted once.
{%- if counter.source.date_is_timestamp %}
-- Days are calendar days in the time zone bound as time_zone, pinned here so
-- that the session's TimeZone setting cannot change a result.
{%- endif %}
{%- set source_counters = counters | selectattr("source", "equalto", counter.source)
    | map(attribute="name") | list %}
{#- Whether a report of this source was counted by any counter of this engine,
    by a fold of the look-back. #}
{%- macro in_ledger(row) -%}
EXISTS (
    SELECT FROM {{ ledger_table }} AS counted
    WHERE counted.engine = '{{ engine.name }}'
      AND counted.counter IN ('{{ source_counters | join("', '") }}')
      AND counted.report_id = {{ row }}.id
)
{%- endmacro %}
{#- Where the next fold of a counter, given its progress row, looks back from:
    before this, every report was counted long ago or is lost. #}
{%- macro look_back_from(row) -%}
greatest({{ row }}.counted_until - %(late_commit_lookback)s::interval, {{ row }}.remembered_since)
{%- endmacro %}
WITH progress AS (
    UPDATE {{ progress_table }} AS progress
    SET counted_until = %(window_end)s::timestamptz,
        remembered_since = greatest(
            before.remembered_since,
            %(window_end)s::timestamptz - %(late_commit_lookback)s::interval
        )
    FROM {{ progress_table }} AS before
    WHERE progress.engine = '{{ engine.name }}'
      AND progress.counter = '{{ counter.name }}'
      AND before.engine = progress.engine
      AND before.counter = progress.counter
      AND before.counted_until < %(window_end)s::timestamptz
    RETURNING
        before.counted_until AS counted_from,
        {{ look_back_from("before") }} AS look_back_from
),
received AS (
    SELECT
        report.id,
        report.created_at,
        report.{{ engine.key_column }} AS version_key,
{%- if counter.source.date_is_timestamp %}
        (report.date AT TIME ZONE %(time_zone)s)::date AS day
{%- else %}
        report.date AS day
{%- endif %}
    FROM {{ counter.source.table }} AS report
    WHERE report.created_at > (SELECT look_back_from FROM progress)
      AND report.created_at <= %(window_end)s::timestamptz
      AND (
          report.created_at > (SELECT counted_from FROM progress)
          -- Stamped before the mark, committed after the fold that moved it.
          OR NOT {{ in_ledger("report") }}
      )
{%- if engine.skip_null_key %}
      AND report.{{ engine.key_column }} IS NOT NULL
{%- endif %}
{%- if counter.boot_reasons == "listed" %}
      -- IS TRUE keeps the planner off Django's boot_reason index, which would
      -- read every such report of the history instead of the window's.
      AND (report.boot_reason = ANY(%(boot_reasons_{{ counter.name }})s::text[])) IS TRUE
{%- elif counter.boot_reasons == "unlisted" %}
      AND report.boot_reason <> ALL(%(boot_reasons_{{ counter.name }})s::text[])
{%- endif %}
      -- A (device, date) pair counts once: its first received copy, unless
      -- another copy was counted before the first one committed.
      AND NOT EXISTS (
          SELECT FROM {{ counter.source.table }} AS other
          WHERE other.device_id = report.device_id
            AND other.date = report.date
            AND other.id <> report.id
            AND (
                (other.created_at, other.id) < (report.created_at, report.id)
                OR {{ in_ledger("other") }}
            )
      )
),
remembered AS (
    INSERT INTO {{ ledger_table }} (engine, counter, report_id, created_at)
    SELECT '{{ engine.name }}', '{{ counter.name }}', id, created_at
    FROM received
    WHERE created_at > %(window_end)s::timestamptz - %(late_commit_lookback)s::interval
),
forgotten AS (
    -- What no later fold of this counter, nor of another counter of this
    -- engine and source (whose duplicate rule reads this ledger too), looks
    -- back to: a sibling counter may lag behind, by a failed task or the
    -- order in which a run's tasks ran.
    DELETE FROM {{ ledger_table }}
    WHERE engine = '{{ engine.name }}'
      AND counter = '{{ counter.name }}'
      AND created_at <= least(
          -- Where this counter's next fold looks back from, once moved here.
          %(window_end)s::timestamptz - %(late_commit_lookback)s::interval,
          (
              SELECT min({{ look_back_from("sibling") }})
              FROM {{ progress_table }} AS sibling
              WHERE sibling.engine = '{{ engine.name }}'
                AND sibling.counter IN ('{{ source_counters | join("', '") }}')
                AND sibling.counter <> '{{ counter.name }}'
          )
      )
      AND EXISTS (SELECT FROM progress)
),
counts AS (
    SELECT version_key, day, count(*) AS reports
    FROM received
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
{%- for column in counters %}
        {% if column.name == counter.name %}sum(reports){% else %}0{% endif %}{{ "," if not loop.last }}
{%- endfor %}
    FROM counts
    GROUP BY version_key
    ON CONFLICT ({{ engine.key_column }}) DO UPDATE SET
        {{ counter.name }} = version.{{ counter.name }} + excluded.{{ counter.name }},
        first_seen_on = least(version.first_seen_on, excluded.first_seen_on),
        -- released_on follows first_seen_on unless it was set by hand.
        released_on = CASE
            WHEN version.released_on = version.first_seen_on
                THEN least(version.first_seen_on, excluded.first_seen_on)
            ELSE version.released_on
        END
    RETURNING
        version.id,
        version.{{ engine.key_column }} AS version_key,
        (version.xmax = 0) AS created
),
window_days AS (
    -- The window's (version, day) pairs, each with its daily row if it has
    -- one: one index probe a pair, however many the planner guesses there
    -- are (OFFSET 0 keeps the probe from becoming a join, which the planner,
    -- guessing from the whole history, would make read the whole table).
    SELECT versions.id AS version_id, counts.day, counts.reports, known.id AS daily_id
    FROM counts
    JOIN versions ON versions.version_key = counts.version_key
    LEFT JOIN LATERAL (
        SELECT daily.id
        FROM {{ engine.daily_table }} AS daily
        WHERE daily.version_id = versions.id
          AND daily.date = counts.day
        OFFSET 0
    ) AS known ON true
),
daily_updated AS (
    -- Through the primary key, one row a pair: the planner reckons with a few
    -- elements of an array, so it probes the key rather than reading the table.
    UPDATE {{ engine.daily_table }} AS daily
    SET {{ counter.name }} = daily.{{ counter.name }} + known.reports
    FROM unnest(
        ARRAY(SELECT daily_id FROM window_days WHERE daily_id IS NOT NULL ORDER BY daily_id),
        ARRAY(SELECT reports FROM window_days WHERE daily_id IS NOT NULL ORDER BY daily_id)
    ) AS known (id, reports)
    WHERE daily.id = known.id
    RETURNING daily.id
),
daily_created AS (
    -- Django declares no unique (version_id, date): the advisory lock and the
    -- probe keep one row per pair.
    INSERT INTO {{ engine.daily_table }} (
        version_id, date, {{ counters | map(attribute="name") | join(", ") }}
    )
    SELECT
        version_id, day,
{%- for column in counters %}
        {% if column.name == counter.name %}reports{% else %}0{% endif %}{{ "," if not loop.last }}
{%- endfor %}
    FROM window_days
    WHERE daily_id IS NULL
    RETURNING id
)
SELECT
    '{{ engine.name }}' AS engine,
    '{{ counter.name }}' AS counter,
    -- ISO 8601 in UTC, as text: a mark at the beginning of time is -infinity.
    (
        SELECT CASE
            WHEN isfinite(counted_from)
                THEN to_char(counted_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            ELSE counted_from::text
        END
        FROM progress
    ) AS counted_from,
    to_char(
        %(window_end)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
    ) AS counted_until,
    (SELECT coalesce(sum(reports), 0) FROM counts) AS reports,
    (SELECT count(*) FROM versions WHERE created) AS versions_created,
    (SELECT count(*) FROM versions WHERE NOT created) AS versions_updated,
    (SELECT count(*) FROM daily_created) AS days_created,
    (SELECT count(*) FROM daily_updated) AS days_updated
