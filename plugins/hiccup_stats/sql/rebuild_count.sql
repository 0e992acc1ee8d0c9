-- Count, in one statement and so in one snapshot, every report received up to
-- the cut-off, one column per counter, per day and per
-- {{ engines | map(attribute="key_column") | join(", ") }}, first received copy of each
-- (device_id, date) pair only: both engines are folded from this small table.
-- Of the two branches per report
-- table exactly one reads it: where a valid, non-partial unique index on
-- exactly (device_id, date) exists (current Hiccup databases), every row is a
-- first copy and the table is read once, in parallel; elsewhere (older
-- databases) earlier copies are searched as a fold does. The index is judged
-- in the snapshot that the rows are read in. The last late_commit_lookback
-- before the cut-off is left to the folds that follow, which also fill the
-- ledger of recently counted reports.
-- Crash report days are calendar days in the time zone bound as time_zone,
-- pinned here so that the session's TimeZone setting cannot change a result.
{%- macro unique_pairs(source) %}
    EXISTS (
        SELECT FROM pg_index AS index
        WHERE index.indrelid = '{{ source.table }}'::regclass
          AND index.indisunique
          AND index.indisvalid
          AND index.indpred IS NULL
          AND index.indexprs IS NULL
          AND index.indnkeyatts = 2
          AND (
              SELECT array_agg(attribute.attname::text ORDER BY attribute.attname)
              FROM pg_attribute AS attribute
              WHERE attribute.attrelid = index.indrelid
                AND attribute.attnum = ANY(index.indkey[0:1])
          ) = ARRAY['date', 'device_id']
    )
{%- endmacro %}
{%- macro counted(source, unique) %}
SELECT
{%- for engine in engines %}
    report.{{ engine.key_column }},
{%- endfor %}
{%- if source.date_is_timestamp %}
    (report.date AT TIME ZONE %(time_zone)s)::date AS day,
{%- else %}
    report.date AS day,
{%- endif %}
{%- for counter in counters %}
{%- if counter.source != source %}
    0 AS {{ counter.name }}{{ "," if not loop.last }}
{%- elif counter.boot_reasons == "listed" %}
    count(*) FILTER (
        WHERE report.boot_reason = ANY(%(boot_reasons_{{ counter.name }})s::text[])
    ) AS {{ counter.name }}{{ "," if not loop.last }}
{%- elif counter.boot_reasons == "unlisted" %}
    count(*) FILTER (
        WHERE report.boot_reason <> ALL(%(boot_reasons_{{ counter.name }})s::text[])
    ) AS {{ counter.name }}{{ "," if not loop.last }}
{%- else %}
    count(*) AS {{ counter.name }}{{ "," if not loop.last }}
{%- endif %}
{%- endfor %}
FROM {{ source.table }} AS report
WHERE report.created_at
    <= %(window_end)s::timestamptz - %(late_commit_lookback)s::interval
{%- if unique %}
  AND {{ unique_pairs(source) }}
{%- else %}
  AND NOT {{ unique_pairs(source) }}
  -- A (device, date) pair counts once: only its first received copy.
  AND NOT EXISTS (
      SELECT FROM {{ source.table }} AS earlier
      WHERE earlier.device_id = report.device_id
        AND earlier.date = report.date
        AND (earlier.created_at, earlier.id) < (report.created_at, report.id)
  )
{%- endif %}
GROUP BY
{%- for engine in engines %}
    report.{{ engine.key_column }},
{%- endfor %}
    day
{%- endmacro %}
CREATE TEMPORARY TABLE hiccup_stats_rebuild_counts ON COMMIT DROP AS
{%- for source in sources %}
{{ counted(source, unique=true) }}
UNION ALL
{{- counted(source, unique=false) }}
{%- if not loop.last %}
UNION ALL
{%- endif %}
{%- endfor %}
