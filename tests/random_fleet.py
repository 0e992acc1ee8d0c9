"""A small random fleet with every awkward case, inserted through the factory."""

from __future__ import annotations

import datetime as dt
import random

from tests.factory import HiccupFactory

BUILDS = [f"Fairphone/FP2/FP2:7.1.2/{n}/gms:user/release-keys" for n in range(4)]
RADIOS = ["4437.1-FP2-0-11", "4437.1-FP2-0-12", "", None]
BOOT_REASONS = [
    "UNKNOWN",
    "keyboard power on",
    "RTC alarm",
    "Reboot",
    "hard reset",
    "kernel panic",
    "unknown",
    " RTC alarm",
]


def insert_random_fleet(
    hiccup: HiccupFactory,
    seed: int,
    start: dt.datetime,
    end: dt.datetime,
    reports: int = 200,
) -> None:
    """Insert about ``reports`` heartbeats and crash reports received in a span.

    Duplicates of (device, date) pairs are included, so the unique constraints
    must have been dropped (``hiccup.allow_duplicates()``).

    Args:
        hiccup: The factory.
        seed: Seed of the random choices.
        start: Earliest ``created_at``.
        end: Latest ``created_at``.
        reports: About how many reports to insert.
    """
    rng = random.Random(seed)
    devices = [hiccup.device() for _ in range(12)]
    span = (end - start).total_seconds()
    inserted = []
    for _ in range(reports):
        device = rng.choice(devices)
        # Some land exactly on a six-hour boundary.
        if rng.random() < 0.1:
            created_at = start + dt.timedelta(
                hours=6 * rng.randrange(int(span // 21600))
            )
        else:
            created_at = start + dt.timedelta(seconds=rng.uniform(0, span))
        lateness = dt.timedelta(
            days=rng.choice([0, 0, 0, 1, 3, 40]), hours=rng.uniform(0, 20)
        )
        happened = created_at - lateness
        build, radio = rng.choice(BUILDS), rng.choice(RADIOS)
        if inserted and rng.random() < 0.1:
            # A copy of an earlier report, received again later.
            kind, device, happened, build, radio = rng.choice(inserted)
        else:
            kind = rng.choice(["heartbeat", "heartbeat", "crash"])
            if kind == "heartbeat":
                happened = happened.date()
        if kind == "heartbeat":
            hiccup.heartbeat(device, happened, created_at, build, radio)
        else:
            reason = rng.choice(BOOT_REASONS)
            hiccup.crash_report(device, happened, created_at, reason, build, radio)
        inserted.append((kind, device, happened, build, radio))
