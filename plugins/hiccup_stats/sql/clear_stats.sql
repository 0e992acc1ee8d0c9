-- Delete every statistic, the metadata and the ledger, and move every progress
-- mark back to the beginning of time. Used only inside the reset transaction,
-- so readers keep seeing the old statistics until the rebuilt ones commit.
-- DELETE, not TRUNCATE: TRUNCATE would lock readers out for the whole rebuild.
{%- for engine in engines %}
DELETE FROM {{ engine.daily_table }};
DELETE FROM {{ engine.version_table }};
{%- endfor %}
DELETE FROM {{ metadata_table }};
DELETE FROM {{ ledger_table }};
UPDATE {{ progress_table }}
SET counted_until = '-infinity', remembered_since = '-infinity';
