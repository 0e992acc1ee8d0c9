-- Whether any Hiccup table that the sample fleet fills already holds rows.
SELECT
    EXISTS (SELECT FROM auth_user)
    OR EXISTS (SELECT FROM crashreports_device)
    OR EXISTS (SELECT FROM crashreports_heartbeat)
    OR EXISTS (SELECT FROM crashreports_crashreport) AS filled
