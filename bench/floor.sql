-- The physical floor of a reset: count every report per build and day, one
-- bare pass over each report table, nothing written. Crash report days are
-- calendar days in the time zone bound as time_zone, as the statistics count
-- them, so that the floor does the same per-row work of bucketing.
SELECT build_fingerprint, date, count(*)
FROM crashreports_heartbeat
GROUP BY 1, 2;

SELECT build_fingerprint, (date AT TIME ZONE %(time_zone)s)::date, count(*)
FROM crashreports_crashreport
GROUP BY 1, 2;
