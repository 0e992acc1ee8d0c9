-- The demo's summary of the statistics: per build fingerprint and per radio
-- version the all-time counters and probable crashes per 1000 heartbeats, the
-- time the statistics are counted up to, and the counters' totals beside the
-- reports received up to then (each (device, date) pair counts once).
SELECT
    build_fingerprint,
    heartbeats,
    prob_crashes,
    smpl,
    other,
    round(prob_crashes * 1000.0 / nullif(heartbeats, 0), 1) AS crashes_per_1000,
    first_seen_on
FROM crashreport_stats_version
ORDER BY heartbeats DESC, build_fingerprint;

SELECT
    radio_version,
    heartbeats,
    prob_crashes,
    smpl,
    other,
    round(prob_crashes * 1000.0 / nullif(heartbeats, 0), 1) AS crashes_per_1000,
    first_seen_on
FROM crashreport_stats_radioversion
ORDER BY heartbeats DESC, radio_version
LIMIT %(top_radio_versions)s;

SELECT max(updated_at), count(*)
FROM crashreport_stats_statsmetadata;

SELECT
    'counted',
    coalesce(sum(heartbeats), 0),
    coalesce(sum(prob_crashes), 0),
    coalesce(sum(smpl), 0),
    coalesce(sum(other), 0)
FROM crashreport_stats_version
UNION ALL
SELECT
    'received',
    (
        SELECT count(DISTINCT (device_id, date))
        FROM crashreports_heartbeat
        WHERE created_at <= %(counted_until)s
    ),
    count(*) FILTER (
        WHERE boot_reason = ANY(%(boot_reasons_prob_crashes)s::text[])
    ),
    count(*) FILTER (WHERE boot_reason = ANY(%(boot_reasons_smpl)s::text[])),
    count(*) FILTER (WHERE boot_reason <> ALL(%(boot_reasons_other)s::text[]))
FROM (
    SELECT DISTINCT ON (device_id, date) boot_reason
    FROM crashreports_crashreport
    WHERE created_at <= %(counted_until)s
    ORDER BY device_id, date, created_at, id
) AS crash_report;
