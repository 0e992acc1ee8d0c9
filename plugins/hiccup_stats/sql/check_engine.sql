-- Check the {{ engine.name }} statistics: every all-time counter of
-- {{ engine.version_table }} equals the sum of its daily rows, no counter is
-- negative, and no (version, day) pair has two rows in {{ engine.daily_table }}.
-- One row: a verdict per rule, then up to 20 offending rows of each rule.
WITH daily_sums AS (
    SELECT
        version_id,
{%- for counter in counters %}
        sum({{ counter.name }}) AS {{ counter.name }}{{ "," if not loop.last }}
{%- endfor %}
    FROM {{ engine.daily_table }}
    GROUP BY version_id
),
mismatched AS (
    SELECT
        version.{{ engine.key_column }}
        || ': all-time ('
        || concat_ws(', ' {%- for counter in counters %}, version.{{ counter.name }}{% endfor %})
        || ') <> sum of days ('
        || concat_ws(', ' {%- for counter in counters %}, coalesce(daily_sums.{{ counter.name }}, 0){% endfor %})
        || ')' AS offence
    FROM {{ engine.version_table }} AS version
    LEFT JOIN daily_sums ON daily_sums.version_id = version.id
    WHERE ({% for counter in counters %}version.{{ counter.name }}{{ ", " if not loop.last }}{% endfor %})
        IS DISTINCT FROM
        ({% for counter in counters %}coalesce(daily_sums.{{ counter.name }}, 0){{ ", " if not loop.last }}{% endfor %})
),
negative AS (
    SELECT version.{{ engine.key_column }} || ' has a negative counter' AS offence
    FROM {{ engine.version_table }} AS version
    WHERE least({{ counters | map(attribute="name") | join(", ") }}) < 0
    UNION ALL
    SELECT 'daily row ' || daily.id || ' (' || daily.date || ') has a negative counter'
    FROM {{ engine.daily_table }} AS daily
    WHERE least({{ counters | map(attribute="name") | join(", ") }}) < 0
),
duplicated AS (
    SELECT 'version id ' || version_id || ' has ' || count(*) || ' rows for ' || date
        AS offence
    FROM {{ engine.daily_table }}
    GROUP BY version_id, date
    HAVING count(*) > 1
)
SELECT
    NOT EXISTS (SELECT FROM mismatched) AS all_time_equals_daily_sums,
    NOT EXISTS (SELECT FROM negative) AS no_negative_counter,
    NOT EXISTS (SELECT FROM duplicated) AS one_row_per_version_and_day,
    concat_ws(
        '; ',
        'offending rows of {{ engine.name }}:',
        (SELECT string_agg(offence, '; ') FROM (SELECT offence FROM mismatched LIMIT 20) AS rows),
        (SELECT string_agg(offence, '; ') FROM (SELECT offence FROM negative LIMIT 20) AS rows),
        (SELECT string_agg(offence, '; ') FROM (SELECT offence FROM duplicated LIMIT 20) AS rows)
    ) AS details
