import pytest

from osld.detector.train import planned_epochs


@pytest.mark.parametrize(("budget", "elapsed", "done", "expected"), [
    (95, 47, 1, 2),    # session 13: ultralytics' ceil planned 3 and the budget cut the third after 7 iterations
    (95, 94, 2, 2),    # the second epoch ends inside the budget: no third one planned
    (100, 30, 1, 3),
    (60, 70, 1, 1),    # an epoch longer than the budget: the one done stands
    (2, 0.1, 1, 20),
])
def test_time_budget_plans_whole_epochs(budget, elapsed, done, expected):
    assert planned_epochs(budget, elapsed, done) == expected
