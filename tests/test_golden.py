"""The original Hiccup command's results on the golden dataset, row for row."""

from __future__ import annotations

from tests import golden, stats
from tests.factory import utc

STEPS = [
    ("reset", utc(2026, 2, 28, 0), "after_reset_W0"),
    ("update", utc(2026, 2, 28, 6), "after_update_W1"),
    ("update", utc(2026, 2, 28, 12), "after_update_W2"),
    ("update", utc(2026, 2, 28, 18), "after_update_W3"),
    ("update", utc(2026, 3, 1, 0), "after_update_W4"),
    ("reset", utc(2026, 3, 1, 0), "reset_at_W4"),
]


def test_statements_reproduce_the_django_command(empty_db, shared_golden):
    golden.load(empty_db, shared_golden)

    for operation, now, result in STEPS:
        getattr(stats, operation)(empty_db, now)

        assert golden.comparable(stats.read_statistics(empty_db)) == golden.comparable(
            golden.expected(shared_golden, result)
        ), f"{operation} at {now} differs from {result}"
