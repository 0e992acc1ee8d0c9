import datetime as dt
from tests.factory import utc
from tests import stats

def test_run(db, hiccup, dagbag):
    print(dagbag.import_errors)
    d1 = hiccup.device()
    hiccup.heartbeat(d1, dt.date(2026, 2, 27), utc(2026, 2, 28, 1))
    dag = dagbag.get_dag("hiccup_stats_update")
    dr = dag.test(logical_date=utc(2026, 2, 28, 6))
    print(dr.state)
    print(stats.read_statistics(db))
    dr = dag.test(logical_date=utc(2026, 2, 28, 6))
    print(dr.state)
    dag = dagbag.get_dag("hiccup_stats_reset")
    dr = dag.test(run_conf={"up_to": "2026-02-28T06:00:00+00:00"})
    print(dr.state)
    print(stats.read_statistics(db))
