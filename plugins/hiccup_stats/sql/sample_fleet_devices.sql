-- Register the sample fleet's devices as the Hiccup app does (a user
-- "device_<uuid>" with an unusable password, then the device), and draw each
-- device's habits into the temporary table sample_fleet_device. Days are UTC
-- days: the time zone is pinned for the whole generation.
SET LOCAL TimeZone = 'UTC';

SELECT setseed(%(seed)s);

INSERT INTO auth_user (
    password, last_login, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined
)
SELECT
    '!' || md5(%(seed)s::text || ' password ' || device_number),
    NULL, false,
    -- A random (version 4) UUID, as Django's uuid4 default.
    'device_' || overlay(
        overlay(md5(%(seed)s::text || ' device ' || device_number) PLACING '4' FROM 13)
        PLACING 'a' FROM 17
    )::uuid,
    '', '', '', false, true,
    -- Registered in the two years before the period.
    %(first_day)s::date - random() * interval '730 days'
FROM generate_series(1, %(devices)s) AS device_number
ORDER BY device_number;

INSERT INTO crashreports_device (
    uuid, imei, board_date, chipset, last_heartbeat, token,
    next_per_crashreport_key, next_per_heartbeat_key, user_id
)
SELECT
    substr(username, length('device_') + 1),
    -- The app sends no board data and the token lives in authtoken_token.
    NULL, NULL, NULL, NULL, NULL,
    1, 1, id
FROM auth_user
ORDER BY id;

CREATE TEMPORARY TABLE sample_fleet_device (
    device_id integer NOT NULL,
    track integer NOT NULL,
    -- Days between a release and its install on the device.
    install_lag integer NOT NULL,
    app_version integer NOT NULL,
    old_client boolean NOT NULL,
    skip_share double precision NOT NULL,
    crashiness double precision NOT NULL
) ON COMMIT DROP;

INSERT INTO sample_fleet_device
SELECT
    device_id,
    track,
    CASE
        WHEN track = ANY(%(beta_tracks)s::integer[]) THEN 0
        WHEN straggler_draw < %(straggler_share)s THEN %(never)s
        ELSE floor(-ln(1 - lag_draw) * %(mean_install_lag_days)s)
    END,
    CASE
        WHEN client_draw < %(old_client_share)s
            THEN (%(old_app_versions)s::integer[])[
                1 + floor(client_draw / %(old_client_share)s
                          * cardinality(%(old_app_versions)s::integer[]))
            ]
        ELSE %(app_version)s
    END,
    client_draw < %(old_client_share)s,
    %(max_skip_share)s * skip_draw ^ 3,
    -ln(1 - crash_draw)
FROM (
    SELECT
        id AS device_id,
        width_bucket(random(), %(track_shares)s::double precision[]) AS track,
        random() AS straggler_draw,
        random() AS lag_draw,
        random() AS client_draw,
        random() AS skip_draw,
        random() AS crash_draw
    FROM crashreports_device
    ORDER BY id
) AS draw;
