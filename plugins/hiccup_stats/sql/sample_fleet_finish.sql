-- Finish the sample fleet: give each device the next report numbers the
-- Hiccup app keeps for it, refresh the planner's statistics of the filled
-- tables, and count the rows of each.
UPDATE crashreports_device AS device
SET
    next_per_heartbeat_key = coalesce(heartbeats.last_number, 0) + 1,
    next_per_crashreport_key = coalesce(crash_reports.last_number, 0) + 1
FROM crashreports_device AS counted
LEFT JOIN (
    SELECT device_id, max(device_local_id) AS last_number
    FROM crashreports_heartbeat
    GROUP BY device_id
) AS heartbeats ON heartbeats.device_id = counted.id
LEFT JOIN (
    SELECT device_id, max(device_local_id) AS last_number
    FROM crashreports_crashreport
    GROUP BY device_id
) AS crash_reports ON crash_reports.device_id = counted.id
WHERE device.id = counted.id;

ANALYZE auth_user, crashreports_device, crashreports_heartbeat,
    crashreports_crashreport;

SELECT 'auth_user', count(*) FROM auth_user
UNION ALL
SELECT 'crashreports_device', count(*) FROM crashreports_device
UNION ALL
SELECT 'crashreports_heartbeat', count(*) FROM crashreports_heartbeat
UNION ALL
SELECT 'crashreports_crashreport', count(*) FROM crashreports_crashreport;
