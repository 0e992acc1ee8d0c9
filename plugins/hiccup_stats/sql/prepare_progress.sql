-- Create the progress table: per engine and counter, the time up to which
-- reports received have been counted and the snapshot they were counted in. A new row starts at the latest recorded
-- metadata (where statistics already exist, e.g. from the Django command) or
-- at the beginning of time, so existing statistics are never counted twice.
CREATE TABLE IF NOT EXISTS {{ progress_table }} (
    engine text NOT NULL,
    counter text NOT NULL,
    counted_until timestamptz NOT NULL,
    counted_snapshot pg_snapshot,
    PRIMARY KEY (engine, counter)
);
INSERT INTO {{ progress_table }} (engine, counter, counted_until)
SELECT engine, counter, coalesce(
    (SELECT max(updated_at) FROM {{ metadata_table }}), '-infinity'
)
FROM (VALUES
{%- for engine in engines %}{% set outer = loop %}{% for counter in counters %}
    ('{{ engine.name }}', '{{ counter.name }}'){{ "," if not (loop.last and outer.last) }}
{%- endfor %}{% endfor %}
) AS wanted (engine, counter)
ON CONFLICT (engine, counter) DO NOTHING;
