-- Create the progress table and the ledger of recently counted reports.
-- Progress, per engine and counter: the time up to which reports received have
-- been counted, and the time from which every report it counted is in the
-- ledger. A new row starts at the latest recorded metadata (where statistics
-- already exist, e.g. from the Django command) or at the beginning of time, so
-- existing statistics are never counted twice.
CREATE TABLE IF NOT EXISTS {{ progress_table }} (
    engine text NOT NULL,
    counter text NOT NULL,
    counted_until timestamptz NOT NULL,
    remembered_since timestamptz NOT NULL,
    PRIMARY KEY (engine, counter)
);
CREATE TABLE IF NOT EXISTS {{ ledger_table }} (
    engine text NOT NULL,
    counter text NOT NULL,
    report_id integer NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (engine, counter, report_id)
);
-- Ledger rows of a counter without progress (its row was deleted by hand)
-- belong to counting that is no longer tracked: the counter starts afresh.
DELETE FROM {{ ledger_table }} AS counted
WHERE NOT EXISTS (
    SELECT FROM {{ progress_table }} AS progress
    WHERE progress.engine = counted.engine AND progress.counter = counted.counter
);
INSERT INTO {{ progress_table }} (engine, counter, counted_until, remembered_since)
SELECT engine, counter, counted_until, counted_until
FROM (VALUES
{%- for engine in engines %}{% set outer = loop %}{% for counter in counters %}
    ('{{ engine.name }}', '{{ counter.name }}'){{ "," if not (loop.last and outer.last) }}
{%- endfor %}{% endfor %}
) AS wanted (engine, counter)
CROSS JOIN (
    SELECT coalesce(max(updated_at), '-infinity') AS counted_until
    FROM {{ metadata_table }}
) AS latest
ON CONFLICT (engine, counter) DO NOTHING;
