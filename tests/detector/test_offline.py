"""Training and prediction never open a network connection (ultralytics tries several on its own)."""

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

# find_spec, not importorskip: importing ultralytics here would patch PIL.Image.open for the whole test session
if importlib.util.find_spec("ultralytics") is None:
    pytest.skip("ultralytics is not installed (osld[train])", allow_module_level=True)

GUARD = textwrap.dedent(
    """
    import json, socket, sys, atexit
    attempts = []
    def refuse(kind):
        def f(*args, **kwargs):
            import traceback
            attempts.append([kind, repr(args)[:200], "".join(traceback.format_stack(limit=40))[:2500]])
            raise OSError(f"network access blocked by test: {kind}")
        return f
    socket.getaddrinfo = refuse("getaddrinfo")
    socket.gethostbyname = refuse("gethostbyname")
    socket.create_connection = refuse("create_connection")
    def local_only(kind, original):
        # AF_UNIX sockets are how DataLoader workers hand tensors back: inter-process, not network
        refused = refuse(kind)
        def f(sock, *args, **kwargs):
            if sock.family == socket.AF_UNIX:
                return original(sock, *args, **kwargs)
            return refused(sock, *args, **kwargs)
        return f
    socket.socket.connect = local_only("connect", socket.socket.connect)
    socket.socket.connect_ex = local_only("connect_ex", socket.socket.connect_ex)
    atexit.register(lambda: open(sys.argv[2], "w").write(json.dumps(attempts)))
    """
)

SCRIPT = GUARD + textwrap.dedent(
    """
    from pathlib import Path
    from osld.data.logos import CanonicalLogo
    from osld.data.synth import synthesize
    from osld.detector.train import DetectorTrainConfig, export_onnx, train_detector
    from osld.detector import load_detector
    from osld.data.images import load_image

    root = Path(sys.argv[1])
    logos = [CanonicalLogo("b", "t", p) for p in sorted((root / "logos").glob("*.png"))]
    yaml_path = synthesize(root / "ds", logos, [], n=4, seed=0, progress=False)
    cfg = DetectorTrainConfig(data=(str(yaml_path),), out=str(root / "run"), imgsz=64, batch=2, epochs=1,
                              max_minutes=2, workers=0)
    first = train_detector(cfg)
    # training accumulates: a second run continues from the first one's compact checkpoint
    cfg2 = DetectorTrainConfig(data=(str(yaml_path),), out=str(root / "run2"), imgsz=64, batch=2, epochs=1,
                               max_minutes=2, workers=1, threads=2)
    best = train_detector(cfg2, init=first)
    from osld.detector.train import load_checkpoint
    print("EPOCHS", load_checkpoint(first)["epochs_total"], load_checkpoint(best)["epochs_total"])
    print("THREADS", load_checkpoint(best)["torch_threads"])
    print("CSV_EPOCHS", len((root / "run" / "train" / "results.csv").read_text().strip().splitlines()) - 1)
    onnx = export_onnx(best, root / "det.onnx", imgsz=64)
    det = load_detector(onnx)
    det.detect([load_image(p).pixels for p in sorted((root / "ds" / "images").glob("*.jpg"))])
    print("OK")
    """
)


@pytest.mark.slow
def test_training_export_and_prediction_open_no_socket(tmp_path, logo_png):
    (tmp_path / "logos").mkdir()
    for i in range(2):
        logo_png(i, tmp_path / "logos" / f"{i}.png")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    attempts_file = tmp_path / "attempts.json"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), str(attempts_file)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK" in proc.stdout
    first, second = (float(v) for v in proc.stdout.split("EPOCHS")[1].split()[:2])
    assert second >= first + 1  # ultralytics may fit more epochs into the time budget
    # one epoch counted per trained epoch (ultralytics' final validation re-runs the epoch-end callbacks)
    assert first == int(proc.stdout.split("CSV_EPOCHS")[1].split()[0])
    # --threads is honoured although ultralytics sets cores - 1 threads for CPU training
    assert int(proc.stdout.split("THREADS")[1].split()[0]) == 2
    assert not (tmp_path / "mobilenet_v2_yolo.onnx").exists()  # the exporter's own file stays out of the cwd
    attempts = json.loads(attempts_file.read_text())
    assert attempts == [], f"network attempts: {attempts}"
    assert not (tmp_path / "Arial.ttf").exists()
