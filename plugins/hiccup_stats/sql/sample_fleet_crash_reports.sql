-- The sample fleet's crash reports: at most one per device and UTC day, drawn
-- with a probability that grows with the device's and its build's
-- crashiness, at a time spread over the day (late evening crashes fall on the
-- next day in Europe/Amsterdam), with a weighted boot reason, received
-- minutes after the crash (or, for late_share of them, days to weeks later),
-- numbered per device in the order of the crashes, and only those received by
-- received_until. Days are UTC days (the generation pins TimeZone).
INSERT INTO crashreports_crashreport (
    is_fake_report, app_version, uptime, build_fingerprint, radio_version,
    boot_reason, power_on_reason, power_off_reason, date, device_local_id,
    next_logfile_key, created_at, device_id
)
SELECT
    false,
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
    (%(boot_reasons)s::text[])[boot_reason],
    (%(power_on_reasons)s::text[])[boot_reason],
    (%(power_off_reasons)s::text[])[power_off_reason],
    crashed_at,
    row_number() OVER (PARTITION BY device_id ORDER BY crashed_at),
    1,
    crashed_at + upload_delay,
    device_id
FROM (
    -- The draws of each crash. random() in the columns of this query and the
    -- next keeps them apart and the filters where they are: every draw is
    -- made once per device and day.
    SELECT
        device_id,
        app_version,
        old_client,
        release,
        (%(first_day)s::date + day_number - 1)::timestamp AT TIME ZONE 'UTC'
        + random() * interval '1 day' AS crashed_at,
        CASE
            WHEN random() < %(late_share)s
                THEN interval '1 day' * (
                    1 + least(-ln(1 - random()) * %(mean_late_days)s,
                              %(max_late_days)s)
                )
            ELSE interval '1 minute' * -ln(1 - random()) * %(mean_upload_minutes)s
        END AS upload_delay,
        width_bucket(random(), %(boot_reason_shares)s::double precision[])
            AS boot_reason,
        1 + floor(
            random() * cardinality(%(power_off_reasons)s::text[])
        )::integer AS power_off_reason,
        floor(-ln(1 - random()) * 2 * 86400) AS up_seconds,
        0.2 + 0.2 * random() AS idle_share,
        0.4 + 0.3 * random() AS sleep_share
    FROM (
        -- Whether the device crashed on the day.
        SELECT
            device.device_id,
            device.app_version,
            device.old_client,
            device.crashiness AS device_crashiness,
            day_number,
            -- The release the device runs: the latest of its track it installed.
            width_bucket(
                device.track * %(track_spacing)s + day_number - 1 - device.install_lag,
                %(release_days)s::integer[]
            ) AS release,
            random() AS crash_draw
        FROM sample_fleet_device AS device
        CROSS JOIN generate_series(1, %(days)s) AS day_number
    ) AS device_day
    WHERE crash_draw < %(crash_share)s * device_crashiness
        * (%(crashiness)s::double precision[])[release]
) AS crash
WHERE crashed_at + upload_delay <= %(received_until)s
-- Stored in the order received, as a live server stores them.
ORDER BY crashed_at + upload_delay
