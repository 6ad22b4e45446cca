from assets.analytics.progress import ProgressPace


def test_the_first_and_the_last_tenant_are_reported_and_between_them_one_a_period() -> None:
    now = [100.0]
    pace = ProgressPace(total=6, every_seconds=5.0, clock=lambda: now[0])
    reported = []
    for done, at in enumerate([100.0, 101.0, 104.9, 105.0, 106.0, 106.5], start=1):
        now[0] = at
        reported.append(pace.due(done))
    # 1: the first; 2, 3: within 5 s of it; 4: 5 s after; 5: within 5 s of that; 6: the last.
    assert reported == [True, False, False, True, False, True]


def test_a_run_of_one_tenant_reports_it_once() -> None:
    pace = ProgressPace(total=1, every_seconds=5.0, clock=lambda: 0.0)
    assert pace.due(1) is True
