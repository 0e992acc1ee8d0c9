-- The sample fleet's heartbeats: one per device and device day it did not
-- skip, from the build and radio version the device ran that day, sent during
-- its day in Central European Time and received minutes later (or, for
-- late_share of them, days to weeks later), and only those received by
-- received_until. Days are UTC days (the generation pins TimeZone).
INSERT INTO crashreports_heartbeat (
    app_version, uptime, build_fingerprint, radio_version, date,
    device_local_id, created_at, device_id
)
SELECT
    app_version,
    'up time: ' || to_char(
        justify_hours(make_interval(secs => up_seconds)), 'FMDD "days", HH24:MI:SS'
    ) || ', idle time: ' || to_char(
        justify_hours(make_interval(secs => up_seconds * idle_share)),
        'FMDD "days", HH24:MI:SS'
    ) || ', sleep time: ' || to_char(
        justify_hours(make_interval(secs => up_seconds * sleep_share)),
        'FMDD "days", HH24:MI:SS'
    ),
    (%(fingerprints)s::text[])[release],
    -- Old clients send no radio version.
    CASE WHEN NOT old_client THEN (%(radio_versions)s::text[])[release] END,
    %(first_day)s::date + day_number - 1,
    day_number,
    created_at,
    device_id
FROM (
    -- random() in its columns keeps this query from being flattened into the
    -- outer one, and the outer filters from being pushed into it: every draw
    -- is made once per device and day.
    SELECT
        device.device_id,
        device.app_version,
        device.old_client,
        day_number,
        -- The release the device runs: the latest of its track it installed.
        width_bucket(
            device.track * %(track_spacing)s + day_number - 1 - device.install_lag,
            %(release_days)s::integer[]
        ) AS release,
        (%(first_day)s::date + day_number - 1)::timestamp AT TIME ZONE 'UTC'
        - interval '1 hour'
        + random() * interval '1 day'
        + CASE
            WHEN random() < %(late_share)s
                THEN interval '1 day' * (
                    1 + least(-ln(1 - random()) * %(mean_late_days)s,
                              %(max_late_days)s)
                )
            ELSE interval '1 minute' * -ln(1 - random()) * %(mean_upload_minutes)s
        END AS created_at,
        floor(-ln(1 - random()) * 3 * 86400) AS up_seconds,
        0.2 + 0.2 * random() AS idle_share,
        0.4 + 0.3 * random() AS sleep_share,
        random() < device.skip_share AS skipped
    FROM sample_fleet_device AS device
    CROSS JOIN generate_series(1, %(days)s) AS day_number
) AS sent
WHERE NOT skipped
  AND created_at <= %(received_until)s
-- Stored in the order received, as a live server stores them.
ORDER BY created_at
