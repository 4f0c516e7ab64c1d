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


def test_each_epoch_leaves_a_compact_checkpoint_and_the_final_eval_none(tmp_path):
    """The epoch-end saver keeps every epoch (``detector_epoch<N>.pt``, for averaging a run's epochs), the latest
    and the best; ultralytics' final re-validation call adds nothing."""
    from types import SimpleNamespace

    import torch

    from osld.detector.train import DetectorTrainConfig, _compact_saver, load_checkpoint

    net = torch.nn.Linear(2, 1)
    save = _compact_saver(tmp_path, DetectorTrainConfig(data=("d.yaml",), out=str(tmp_path)), {"epochs_total": 5.0},
                          started=0.0)
    for epoch, fitness in ((0, 0.4), (1, 0.3)):
        with torch.no_grad():
            net.weight.fill_(epoch)
        save(SimpleNamespace(ema=SimpleNamespace(ema=net), model=net, fitness=fitness, metrics={"m": fitness},
                             epoch=epoch, validator=SimpleNamespace(training=True)))
    save(SimpleNamespace(ema=SimpleNamespace(ema=net), model=net, fitness=0.9, metrics={}, epoch=1,
                         validator=SimpleNamespace(training=False)))  # final eval: ignored
    assert sorted(p.name for p in tmp_path.glob("detector_*.pt")) == [
        "detector_best.pt", "detector_epoch1.pt", "detector_epoch2.pt", "detector_last.pt"]
    first, last, best = (load_checkpoint(tmp_path / f) for f in ("detector_epoch1.pt", "detector_last.pt",
                                                                  "detector_best.pt"))
    assert first["state_dict"]["weight"].eq(0).all() and last["state_dict"]["weight"].eq(1).all()
    assert last["epochs_total"] == 7.0 and best["fitness"] == 0.4
