"""Live-app benchmark: drives the real window (offscreen) on a 640x480 30 fps file source.

    python benchmarks/app_live.py [--source FILE] [--seconds 30] [--method fcus|pos|chrom|green]
                                  [--loop-minutes M] [--face-model PATH] [--record mjpg|mp4v]
                                  [--calibrate-after S]

Without ``--source`` a 30 s synthetic clip (75 bpm) is written into a temporary folder. The
method defaults to FCUS when the shipped model exists, else POS. Prints: frames shown per second,
frames dropped, time from the first face to the first reading, inference latency (worker ms per
frame: mean, p95), process CPU use (process_time / wall time) and its share by thread (Linux),
the longest UI-thread stall (a 10 ms QTimer; the largest gap beyond 10 ms), and RSS at start and
end. ``--loop-minutes M`` runs
the looping file for M minutes instead and prints RSS every minute (memory flat check).
``--record CODEC`` records the run with the video (into a temporary folder) and adds the video's
frames, its rows in frames.csv and its size per hour. ``--calibrate-after S`` presses Calibrate S
seconds into the run and adds when it finished, the frames dropped and the CPU used meanwhile, and
the median HR shown before and after it.
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

from model.blas_threads import limit_blas_threads  # noqa: E402

limit_blas_threads()  # as fcus-rppg does for the app, before NumPy is imported


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


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each of this process's threads so far, summed by name (the
    Python name where the thread has one, else the kernel's); empty where there is no /proc."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        name = names.get(int(tid), stat[stat.index("(") + 1:stat.rindex(")")])
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def default_face_model() -> str | None:
    env = os.environ.get("FCUS_FACE_MODEL")
    if env and Path(env).is_file():
        return env
    from training.datasets import default_face_model as shared_face_model

    return shared_face_model()


def _parser() -> argparse.ArgumentParser:
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
    ap.add_argument("--calibrate-after", type=float, default=None, metavar="S",
                    help="press Calibrate this many seconds into the run")
    return ap


def _launch(args: argparse.Namespace, source: str):
    """The real app on ``source`` (no camera probing, settings in a temporary folder):
    ``(app, window, method)``."""
    from model.pulse_methods import default_method

    method = args.method or default_method(args.model)
    face_model = args.face_model or default_face_model()
    os.environ.setdefault("FCUS_RPPG_CONFIG_DIR", tempfile.mkdtemp(prefix="fcus-bench-cfg-"))
    import app.window as aw
    from app.main import launch

    aw._CameraLister.start = lambda self, skip=frozenset(): None  # no camera probing
    argv_app = ["--source", source, "--method", method, "--loop", "--no-download"]
    if face_model:
        argv_app += ["--face-model", face_model]
    if args.model:
        argv_app += ["--model", args.model]
    app, win, _ = launch(argv_app)
    return app, win, method


class LiveProbe:
    """Measures a running window: frames shown and processed, worker latency, first face and
    first reading, the longest UI-thread stall (a 10 ms timer), CPU, drops and RSS over the run.
    The clock starts once the source delivers frames (after the tracker and model load)."""

    def __init__(self, app, win, duration_s: float, record: str | None, every_minute: bool) -> None:
        from PySide6.QtCore import QTimer

        self.app, self.win, self.worker = app, win, win.worker
        self.duration_s, self.record, self.every_minute = duration_s, record, every_minute
        self.shown = 0
        self.lat_ms: list[float] = []
        self.first_face = self.first_reading = self.t_start = self.last_tick = None
        self.max_gap_ms = 0.0
        self.rss: list[tuple[float, float]] = []
        self.wall_s = self.cpu_s = None
        self.thread_cpu_s: dict[str, float] = {}
        self.dropped = 0
        self.rss_end = 0.0
        self.session_tmp = tempfile.TemporaryDirectory(prefix="fcus-bench-rec-") if record else None
        self._hook_worker()
        self._stall = QTimer()
        self._stall.setInterval(10)
        self._stall.timeout.connect(self._tick)
        self._minute = QTimer()
        self._minute.timeout.connect(self._every_minute)
        self.calibrate_after_s: float | None = None
        self.calib: dict = {}  # t_start, t_end, state, dropped, cpu_s (set by _on_calibration)
        self.hr: list[tuple[float, float]] = []  # (run time, HR shown)
        win.worker.calibration_changed.connect(self._on_calibration)

    def _hook_worker(self) -> None:
        worker = self.worker
        orig_take, orig_process = worker.take_frame, worker._process

        def take_frame():
            r = orig_take()
            if r is not None and self.t_start is not None:
                self.shown += 1
            return r

        def process(frame):  # worker thread
            n0 = worker._n_frames
            orig_process(frame)
            if worker._n_frames > n0 and self.t_start is not None:
                self.lat_ms.append(worker._lat_ms[-1])
                if self.first_face is None and worker._face_ok_prev:
                    self.first_face = time.monotonic()

        worker.take_frame = take_frame
        worker._process = process
        worker.reading_ready.connect(self._on_reading)

    def _on_reading(self, res) -> None:
        if self.first_reading is None and res.reading is not None and res.reading.hr_bpm is not None:
            self.first_reading = time.monotonic()
        if self.t_start is not None and res.reading is not None and res.reading.hr_bpm is not None:
            self.hr.append((time.monotonic() - self.t_start, float(res.reading.hr_bpm)))

    def _on_calibration(self, st) -> None:
        if self.t_start is None:
            return
        now = time.monotonic() - self.t_start
        if st.state == "running":
            self.calib = {"t_start": now, "dropped0": self.worker.frames.dropped, "cpu0": time.process_time()}
        elif st.state in ("done", "failed") and "t_start" in self.calib and "t_end" not in self.calib:
            self.calib.update(t_end=now, state=st.state, text=st.text,
                              dropped=self.worker.frames.dropped - self.calib["dropped0"],
                              cpu_s=time.process_time() - self.calib["cpu0"],
                              face_s=self.worker._crops.face_s if self.worker._crops is not None else 0.0)

    def _tick(self) -> None:
        now = time.monotonic()
        if self.last_tick is not None and self.t_start is not None:
            self.max_gap_ms = max(self.max_gap_ms, (now - self.last_tick) * 1000.0 - 10.0)
        self.last_tick = now

    def run(self) -> None:
        """Run the app's event loop until the measured run is over."""
        from PySide6.QtCore import QTimer

        self._stall.start()
        self._t_launch = time.monotonic()
        QTimer.singleShot(0, self._begin)
        self.app.exec()
        self.worker.stop()

    def _begin(self) -> None:
        from PySide6.QtCore import QTimer

        if self.worker._n_frames == 0 and time.monotonic() - self._t_launch < 60:
            QTimer.singleShot(50, self._begin)
            return
        self.t_start = time.monotonic()
        self._cpu0 = time.process_time()
        self._threads0 = thread_cpu_s()
        self._drop0 = self.worker.frames.dropped
        self.rss.append((0.0, rss_mb()))
        if self.record:
            self.worker.set_record_codec(self.record)
            self.win.set_recording(True, self.session_tmp.name)
        if self.every_minute:
            self._minute.start(60_000)
        if self.calibrate_after_s is not None:
            QTimer.singleShot(int(self.calibrate_after_s * 1000), self.win.calibrate)
        QTimer.singleShot(int(self.duration_s * 1000), self._finish)

    def _every_minute(self) -> None:
        t = (time.monotonic() - self.t_start) / 60.0
        self.rss.append((t, rss_mb()))
        print(f"  {t:5.1f} min  RSS {self.rss[-1][1]:7.1f} MB", flush=True)

    def _finish(self) -> None:
        self.wall_s = time.monotonic() - self.t_start
        self.cpu_s = time.process_time() - self._cpu0
        end = thread_cpu_s()
        self.thread_cpu_s = {k: v - self._threads0.get(k, 0.0) for k, v in end.items()}
        self.dropped = self.worker.frames.dropped - self._drop0
        self.rss_end = rss_mb()
        self.win.close()
        self.app.quit()


def _run_rows(probe: LiveProbe, source_label: str, method: str, rss_start: float,
              rss_launched: float) -> list[tuple[str, str]]:
    import numpy as np

    wall_s, worker, win = probe.wall_s, probe.worker, probe.win
    lat = np.asarray(probe.lat_ms) if probe.lat_ms else np.asarray([np.nan])
    ttr = (probe.first_reading - probe.first_face) if (probe.first_face and probe.first_reading) else None
    return [
        ("source", source_label),
        ("method / tracker", f"{win.method_info.name if win.method_info else method} / {worker.tracker_name}"),
        ("run", f"{wall_s:.1f} s"),
        ("frames processed", f"{len(probe.lat_ms)}  ({len(probe.lat_ms) / wall_s:.1f} /s)"),
        ("frames shown per second", f"{probe.shown / wall_s:.1f}"),
        ("frames dropped", f"{probe.dropped}"),
        ("first face -> first reading", f"{ttr:.2f} s" if ttr is not None else "no reading"),
        ("inference latency mean / p95", f"{np.nanmean(lat):.1f} / {np.nanpercentile(lat, 95):.1f} ms"),
        ("process CPU use", f"{100.0 * probe.cpu_s / wall_s:.0f} % (of one core; {os.cpu_count()} cores)"),
        ("process CPU by thread", ", ".join(f"{k} {100.0 * v / wall_s:.1f} %" for k, v in
                                           sorted(probe.thread_cpu_s.items(), key=lambda kv: -kv[1])
                                           if v / wall_s >= 0.005) or "(no /proc)"),
        ("longest UI-thread stall", f"{probe.max_gap_ms:.1f} ms (beyond the 10 ms timer)"),
        ("RSS start / launched / end", f"{rss_start:.0f} / {rss_launched:.0f} / {probe.rss_end:.0f} MB"),
    ]


def _recording_rows(record_dir: Path, codec: str) -> list[tuple[str, str]]:
    """The recorded session's video frames, frames.csv rows and video size per hour."""
    from app.recording import count_video_frames

    session = next(record_dir.iterdir())
    lines = (session / "frames.csv").read_text().splitlines()
    n_rows = len(lines) - 1
    n_video = count_video_frames(session / "video.avi")
    recorded_s = float(lines[-1].split(",")[1]) if n_rows else 0.0
    size = (session / "video.avi").stat().st_size
    return [
        ("recording", f"{codec}: {n_video} video frames, {n_rows} frames.csv rows, "
                      f"{n_rows / max(recorded_s, 1e-9):.1f} frames/s recorded"),
        ("video size", f"{size / 1e6:.1f} MB for {recorded_s:.1f} s = "
                       f"{size / max(recorded_s, 1e-9) * 3600 / 1e9:.2f} GB per hour"),
    ]


def _calibration_rows(probe: LiveProbe) -> list[tuple[str, str]]:
    import numpy as np

    c = probe.calib
    if "t_end" not in c:
        return [("calibration", "did not finish within the run" if c else "did not start")]
    took = c["t_end"] - c["t_start"]
    before = [hr for t, hr in probe.hr if t < c["t_start"]]
    after = [hr for t, hr in probe.hr if t > c["t_end"]]
    med = [f"{np.median(v):.1f}" if v else "-" for v in (before, after)]
    return [
        ("calibration", f"{c['state']} at {c['t_start']:.1f} s, took {took:.1f} s ({c.get('text', '')})"),
        ("calibration: dropped / app CPU", f"{c['dropped']} frames / {100.0 * c['cpu_s'] / max(took, 1e-9):.0f} % "
                                          "of one core (the adapting child not counted)"),
        ("HR shown before / after (median)", f"{med[0]} / {med[1]} bpm ({len(before)} / {len(after)} readings)"),
    ]


def _rss_rows(probe: LiveProbe) -> list[tuple[str, str]]:
    r = [v for _, v in probe.rss] + [probe.rss_end]
    half = r[len(r) // 2:]
    return [("RSS per minute", ", ".join(f"{v:.0f}" for v in r) + " MB"),
            ("RSS growth (2nd half)", f"{half[-1] - half[0]:+.1f} MB")]


def _print_table(rows: list[tuple[str, str]]) -> None:
    w = max(len(k) for k, _ in rows)
    print(f"\n{'metric':<{w}}  value")
    print(f"{'-' * w}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rss_start = rss_mb()
    tmp = None
    source = args.source
    if source is None:
        from training.synth import SynthConfig, write_clip

        tmp = tempfile.TemporaryDirectory(prefix="fcus-bench-")
        files = write_clip(SynthConfig(duration_s=30, hr_bpm=75), tmp.name, progress=False)
        source = str(files.video_path)
    app, win, method = _launch(args, source)
    rss_launched = rss_mb()
    duration_s = args.loop_minutes * 60.0 if args.loop_minutes else args.seconds
    probe = LiveProbe(app, win, duration_s, args.record, every_minute=bool(args.loop_minutes))
    probe.calibrate_after_s = args.calibrate_after
    probe.run()
    if tmp is not None:
        tmp.cleanup()
    if probe.wall_s is None:
        print("no frames arrived: nothing to report", file=sys.stderr)
        return 1
    label = f"{Path(source).name} (640x480 30 fps file, looping)" if args.source is None else source
    rows = _run_rows(probe, label, method, rss_start, rss_launched)
    if probe.session_tmp is not None:
        rows += _recording_rows(Path(probe.session_tmp.name), args.record)
        probe.session_tmp.cleanup()
    if args.loop_minutes:
        rows += _rss_rows(probe)
    if args.calibrate_after is not None:
        rows += _calibration_rows(probe)
    _print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
