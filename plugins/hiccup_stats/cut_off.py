"""The reset cut-off: parse and check the ``up_to`` parameter."""

from __future__ import annotations

import datetime as dt

UPDATE_HOURS = (0, 6, 12, 18)
"""The UTC hours at which update windows end."""

EARLIEST_REPORT = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
"""Before any report a Hiccup server can have received; the DAGs' start date."""


class CutOffError(ValueError):
    """The requested cut-off cannot be used."""


def latest_boundary(now: dt.datetime) -> dt.datetime:
    """Return the latest 00/06/12/18 UTC boundary not after ``now``.

    Args:
        now: An aware timestamp.

    Returns:
        The boundary, in UTC.
    """
    now = now.astimezone(dt.UTC)
    hour = max(hour for hour in UPDATE_HOURS if hour <= now.hour)
    return now.replace(hour=hour, minute=0, second=0, microsecond=0)


def parse_up_to(value: str | None, now: dt.datetime) -> dt.datetime:
    """Turn the ``up_to`` parameter into the reset cut-off.

    Args:
        value: An ISO 8601 timestamp with a UTC offset, or ``None`` / empty for
            the latest update boundary.
        now: The current time, aware.

    Returns:
        The cut-off, in UTC.

    Raises:
        CutOffError: The value is not an ISO 8601 timestamp, has no offset,
            lies in the future or before any report; the message says what is
            expected.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return latest_boundary(now)

    expected = (
        "expected an ISO 8601 timestamp with a UTC offset, e.g. "
        "'2026-03-01T00:00:00+00:00', or nothing for the latest 00/06/12/18 UTC "
        "boundary"
    )
    if not isinstance(value, str):
        raise CutOffError(f"up_to={value!r} is not a string; {expected}.")
    try:
        up_to = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CutOffError(f"up_to={value!r} is not a timestamp; {expected}.") from None
    if up_to.tzinfo is None or up_to.utcoffset() is None:
        raise CutOffError(f"up_to={value!r} has no UTC offset; {expected}.")

    try:
        up_to = up_to.astimezone(dt.UTC)
    except OverflowError:
        raise CutOffError(
            f"up_to={value!r} lies beyond the year 9999 or before the year 1 in "
            f"UTC; {expected}."
        ) from None
    if up_to > now:
        raise CutOffError(
            f"up_to={value!r} lies in the future (now is {now.isoformat()}); "
            "reports not yet received cannot be counted."
        )
    if up_to < EARLIEST_REPORT:
        raise CutOffError(
            f"up_to={value!r} lies before {EARLIEST_REPORT.isoformat()}, before "
            "any report a Hiccup server can hold; the reset would empty the "
            "statistics."
        )
    return up_to
