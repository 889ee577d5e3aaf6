"""Live-app benchmark: drives the real window (offscreen) on a 640x480 30 fps file source.

    python benchmarks/app_live.py [--source FILE] [--seconds 30] [--method fcus|pos|chrom|green]
                                  [--loop-minutes M] [--face-model PATH] [--record mjpg|mp4v]

Without ``--source`` a 30 s synthetic clip (75 bpm) is written into a temporary folder. The
method defaults to FCUS when the shipped model exists, else POS. Prints: frames shown per second,
frames dropped, time from the first face to the first reading, inference latency (worker ms per
frame: mean, p95), process CPU use (process_time / wall time), the longest UI-thread stall (a
10 ms QTimer; the largest gap beyond 10 ms), and RSS at start and end. ``--loop-minutes M`` runs
the looping file for M minutes instead and prints RSS every minute (memory flat check).
``--record CODEC`` records the run with the video (into a temporary folder) and adds the video's
frames, its rows in frames.csv and its size per hour.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def default_face_model() -> str | None:
    env = os.environ.get("FCUS_FACE_MODEL")
    if env and Path(env).is_file():
        return env
    from training.datasets import default_face_model as shared_face_model

    return shared_face_model()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=None, help="video file (default: a synthetic 30 s 640x480 30 fps clip)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--method", default=None, help="default: fcus when the shipped model exists, else pos")
    ap.add_argument("--model", default=None, help="FCUS ONNX model file")
    ap.add_argument("--face-model", default=None, help="face_landmarker.task (default: $FCUS_FACE_MODEL / ../shared)")
    ap.add_argument("--loop-minutes", type=float, default=None,
                    help="run the looping file this many minutes; RSS every minute")
    ap.add_argument("--record", choices=("mjpg", "mp4v"), default=None,
                    help="record the run with the video in this codec; adds its size per hour")
    args = ap.parse_args(argv)

    rss_start = rss_mb()
    tmp = None
    source = args.source
    if source is None:
        from training.synth import SynthConfig, write_clip

        tmp = tempfile.TemporaryDirectory(prefix="fcus-bench-")
        files = write_clip(SynthConfig(duration_s=30, hr_bpm=75), tmp.name, progress=False)
        source = str(files.video_path)
    from model.pulse_methods import default_method

    method = args.method or default_method(args.model)
    face_model = args.face_model or default_face_model()
    duration_s = args.loop_minutes * 60.0 if args.loop_minutes else args.seconds

    os.environ.setdefault("FCUS_RPPG_CONFIG_DIR", tempfile.mkdtemp(prefix="fcus-bench-cfg-"))
    import numpy as np
    from PySide6.QtCore import QTimer

    import app.window as aw
    from app.main import launch

    aw._CameraLister.start = lambda self, skip=frozenset(): None  # no camera probing
    argv_app = ["--source", source, "--method", method, "--loop", "--no-download"]
    if face_model:
        argv_app += ["--face-model", face_model]
    if args.model:
        argv_app += ["--model", args.model]
    app, win, _ = launch(argv_app)
    worker = win.worker
    rss_launched = rss_mb()

    m = {"shown": 0, "lat": [], "first_face": None, "first_reading": None, "t_start": None,
         "max_gap_ms": 0.0, "last_tick": None, "rss": []}

    orig_take = worker.take_frame

    def take_frame():
        r = orig_take()
        if r is not None and m["t_start"] is not None:
            m["shown"] += 1
        return r

    worker.take_frame = take_frame

    orig_process = worker._process

    def process(frame):  # worker thread
        n0 = worker._n_frames
        orig_process(frame)
        if worker._n_frames > n0 and m["t_start"] is not None:
            m["lat"].append(worker._lat_ms[-1])
            if m["first_face"] is None and worker._face_ok_prev:
                m["first_face"] = time.monotonic()

    worker._process = process

    def on_reading(res):
        if m["first_reading"] is None and res.reading is not None and res.reading.hr_bpm is not None:
            m["first_reading"] = time.monotonic()

    worker.reading_ready.connect(on_reading)

    def tick():
        now = time.monotonic()
        if m["last_tick"] is not None and m["t_start"] is not None:
            m["max_gap_ms"] = max(m["max_gap_ms"], (now - m["last_tick"]) * 1000.0 - 10.0)
        m["last_tick"] = now

    stall = QTimer()
    stall.setInterval(10)
    stall.timeout.connect(tick)
    stall.start()

    # the clock starts when the source delivers frames (after the tracker and model load)
    wall0 = {"wall": None, "cpu": None, "drop": 0}

    def begin():
        if worker._n_frames == 0 and time.monotonic() - t_launch < 60:
            QTimer.singleShot(50, begin)
            return
        m["t_start"] = time.monotonic()
        wall0["wall"], wall0["cpu"] = time.monotonic(), time.process_time()
        wall0["drop"] = worker.frames.dropped
        m["rss"].append((0.0, rss_mb()))
        if args.record:
            worker.set_record_codec(args.record)
            win.set_recording(True, rec_tmp.name)
        if args.loop_minutes:
            minute.start(60_000)
        QTimer.singleShot(int(duration_s * 1000), finish)

    def every_minute():
        t = (time.monotonic() - m["t_start"]) / 60.0
        m["rss"].append((t, rss_mb()))
        print(f"  {t:5.1f} min  RSS {m['rss'][-1][1]:7.1f} MB", flush=True)

    minute = QTimer()
    minute.timeout.connect(every_minute)

    def finish():
        wall0["wall_s"] = time.monotonic() - wall0["wall"]
        wall0["cpu_s"] = time.process_time() - wall0["cpu"]
        wall0["dropped"] = worker.frames.dropped - wall0["drop"]
        wall0["rss_end"] = rss_mb()
        win.close()
        app.quit()

    rec_tmp = tempfile.TemporaryDirectory(prefix="fcus-bench-rec-") if args.record else None
    t_launch = time.monotonic()
    QTimer.singleShot(0, begin)
    app.exec()
    worker.stop()
    if tmp is not None:
        tmp.cleanup()

    wall_s = wall0.get("wall_s")
    if wall_s is None:
        print("no frames arrived: nothing to report", file=sys.stderr)
        return 1
    lat = np.asarray(m["lat"]) if m["lat"] else np.asarray([np.nan])
    ttr = (m["first_reading"] - m["first_face"]) if (m["first_face"] and m["first_reading"]) else None
    rows = [
        ("source", f"{Path(source).name} (640x480 30 fps file, looping)" if args.source is None else source),
        ("method / tracker", f"{win.method_info.name if win.method_info else method} / {worker.tracker_name}"),
        ("run", f"{wall_s:.1f} s"),
        ("frames processed", f"{len(m['lat'])}  ({len(m['lat']) / wall_s:.1f} /s)"),
        ("frames shown per second", f"{m['shown'] / wall_s:.1f}"),
        ("frames dropped", f"{wall0['dropped']}"),
        ("first face -> first reading", f"{ttr:.2f} s" if ttr is not None else "no reading"),
        ("inference latency mean / p95", f"{np.nanmean(lat):.1f} / {np.nanpercentile(lat, 95):.1f} ms"),
        ("process CPU use", f"{100.0 * wall0['cpu_s'] / wall_s:.0f} % (of one core; {os.cpu_count()} cores)"),
        ("longest UI-thread stall", f"{m['max_gap_ms']:.1f} ms (beyond the 10 ms timer)"),
        ("RSS start / launched / end", f"{rss_start:.0f} / {rss_launched:.0f} / {wall0['rss_end']:.0f} MB"),
    ]
    if rec_tmp is not None:
        from app.recording import count_video_frames

        session = next(Path(rec_tmp.name).iterdir())
        lines = (session / "frames.csv").read_text().splitlines()
        n_rows = len(lines) - 1
        n_video = count_video_frames(session / "video.avi")
        rec_s = float(lines[-1].split(",")[1]) if n_rows else 0.0
        size = (session / "video.avi").stat().st_size
        rows.append(("recording", f"{args.record}: {n_video} video frames, {n_rows} frames.csv rows, "
                                  f"{n_rows / max(rec_s, 1e-9):.1f} frames/s recorded"))
        rows.append(("video size", f"{size / 1e6:.1f} MB for {rec_s:.1f} s = "
                                   f"{size / max(rec_s, 1e-9) * 3600 / 1e9:.2f} GB per hour"))
        rec_tmp.cleanup()
    if args.loop_minutes:
        r = [v for _, v in m["rss"]] + [wall0["rss_end"]]
        rows.append(("RSS per minute", ", ".join(f"{v:.0f}" for v in r) + " MB"))
        half = r[len(r) // 2:]
        rows.append(("RSS growth (2nd half)", f"{half[-1] - half[0]:+.1f} MB"))
    w = max(len(k) for k, _ in rows)
    print(f"\n{'metric':<{w}}  value")
    print(f"{'-' * w}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
