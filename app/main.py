"""``fcus-rppg`` with no subcommand: the desktop app.

    fcus-rppg [--source camera:N|FILE|SESSION_DIR|demo] [--method fcus|pos|chrom|green] [--model PATH]
              [--face-model PATH] [--no-download] [--record DIR] [--loop | --no-loop]
              [--quit-after SECONDS] [--screenshot PNG] [--calibrate-after SECONDS] [-v]

Without ``--source`` the app opens on the last source; on the first run, or when that source is
gone, it tries camera 0 and otherwise opens on the built-in demo (never on an error).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from app.capture import SourceSpec
from app.settings import Settings, load_settings
from model.pulse_methods import PULSE_METHODS, default_method, method_status

log = logging.getLogger(__name__)

# Exit statuses of the app (README, docs/bad_inputs.md); the window stays usable meanwhile.
EXIT_SCREENSHOT_FAILED = 1
EXIT_BAD_SOURCE = 2  # --source cannot be parsed (camera:x): refused before the window opens
EXIT_SOURCE_FAILED = 3  # the --source asked for never opened during the run (the demo stood in)
EXIT_RECORD_FAILED = 4  # a recording (--record or the Record button) failed during the run
EXIT_BAD_INPUT = 2  # an explicit request (--face-model PATH, --model PATH) that cannot be met


#: The signals that close the window as its Quit does (those the platform has).
CLOSING_SIGNALS = ("SIGINT", "SIGTERM")


#: The picture formats --screenshot writes (Qt's image writers on every platform).
SCREENSHOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


#: The longest --quit-after / --calibrate-after (Qt's timers take at most 2**31 ms).
MAX_SECONDS = 1_000_000.0


def _seconds(text: str) -> float:
    """A number of seconds, zero or more (argparse says so otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_SECONDS:  # also NaN and inf
        raise argparse.ArgumentTypeError(f"{text} s: must be 0 to {MAX_SECONDS:g}")
    return value


def _screenshot(text: str) -> str:
    if Path(text).suffix.lower() not in SCREENSHOT_SUFFIXES:
        raise argparse.ArgumentTypeError(f"{text}: the picture must be a {', '.join(SCREENSHOT_SUFFIXES)} file")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcus-rppg", description="Live pulse from a camera, a video file or the demo.")
    p.add_argument("--source", default=None,
                   help="camera:N (or N), a video file, a recorded session folder (replayed at its real frame "
                        "times), or demo (default: last used; else camera 0; else the demo)")
    p.add_argument("--method", choices=PULSE_METHODS, default=None,
                   help="pulse method (default: last used; fcus needs its ONNX model)")
    p.add_argument("--model", default=None, help="FCUS ONNX model file (default: the shipped one)")
    p.add_argument("--face-model", default=None, help="MediaPipe face_landmarker.task (default: "
                                                      "$FCUS_FACE_MODEL, else the shipped one); "
                                                      "exit 2 when it cannot be used")
    p.add_argument("--no-download", action="store_true", help="never download the face model")
    p.add_argument("--record", metavar="DIR", default=None,
                   help="record from the start into a new session folder under DIR")
    p.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                   help="loop video files (default: last setting, on)")
    p.add_argument("--quit-after", type=_seconds, metavar="SECONDS", default=None,
                   help="quit after this many seconds (with --screenshot: save it first)")
    p.add_argument("--screenshot", metavar="PNG", type=_screenshot, default=None,
                   help="save a picture of the window (.png, .jpg or .bmp) after --quit-after seconds "
                        "(default 10 s)")
    p.add_argument("--calibrate-after", type=_seconds, metavar="SECONDS", default=None,
                   help="press Calibrate this many seconds after the start (scripted demo sessions, benchmarks)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def initial_source(arg: str | None, settings: Settings, loop: bool) -> SourceSpec:
    """What to open first; the worker falls back to the demo when it cannot be opened."""
    text = arg if arg else (settings.source or "camera:0")
    try:
        return SourceSpec.parse(text, loop=loop)
    except ValueError as exc:
        log.warning("ignoring source %r: %s", text, exc)
        return SourceSpec("demo")


def launch(argv: list[str] | None = None):
    """Build the running app (QApplication, worker, window) without entering the event loop.
    Returns ``(app, window, args)``; tests drive the window, ``app_main`` runs ``app.exec()``."""
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow, apply_dark_theme
    from app.worker import Worker
    from model.opencv_threads import limit_opencv_threads

    args = build_parser().parse_args(argv)
    limit_opencv_threads()
    app = QApplication.instance() or QApplication(["fcus-rppg"])
    app.setApplicationName("fcus-rppg")
    apply_dark_theme(app)
    settings = load_settings()
    # --method and --loop hold for this run only: the saved settings keep the user's own choices
    method = args.method or settings.method
    if not args.method and not method_status(method, args.model)[0]:
        method = default_method(args.model)  # no FCUS model here: POS, quietly (the saved choice stays)
    loop = settings.loop if args.loop is None else args.loop
    spec = initial_source(args.source, settings, loop)
    worker = Worker(method=method, model_path=args.model, face_model=args.face_model,
                    allow_download=not args.no_download, overlay=settings.overlay,
                    privacy=settings.privacy, record_video=settings.record_video,
                    record_codec=settings.record_codec)
    window = MainWindow(worker, settings, model_path=args.model, loop=loop)
    window.show()
    worker.start(spec, fallback_to_demo=True, record_dir=args.record, explicit=bool(args.source))
    return app, window, args


def _start_problem(args) -> int:
    """What the command line asks for that cannot be met, said on stderr before any window opens:
    its exit status, or 0."""
    if args.source:
        try:
            SourceSpec.parse(args.source)
        except ValueError as exc:
            print(f"fcus-rppg: --source: {exc}", file=sys.stderr)
            return EXIT_BAD_SOURCE
    if args.face_model:
        # An explicit face model that cannot be used: refuse before any window opens.
        from model.face_model import explicit_face_model_problem

        problem = explicit_face_model_problem(args.face_model)
        if problem:
            print(f"fcus-rppg: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.model:
        # An explicit model file that is not there, or not one the app can run: refuse before any window
        # opens (it used to show POS instead, exit 0). A model opened later in the window is reported there.
        from model.pulse_methods import make_pulse_method, model_file_method

        usable, why = method_status(model_file_method().name, args.model)
        if usable:  # there, but not a model this app can run (not ONNX, a wrong contract): refused too
            try:
                make_pulse_method(model_file_method().name, model_path=args.model)
            except Exception as exc:  # noqa: BLE001 - FileNotFoundError, ModelContractError, ONNX Runtime's own
                usable, why = False, f"cannot use {args.model}: {str(exc) or type(exc).__name__}"
        if not usable:
            print(f"fcus-rppg: --model: {why}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return 0


def app_main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    refused = _start_problem(args)
    if refused:
        return refused
    from PySide6.QtCore import QTimer

    app, window, args = launch(argv)
    rc = {"code": 0}

    if args.screenshot or args.quit_after is not None:
        delay_s = args.quit_after if args.quit_after is not None else 10.0

        def finish() -> None:
            if args.screenshot:
                out = Path(args.screenshot).expanduser()
                try:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    ok = window.grab().save(str(out))
                except OSError as exc:
                    ok = False
                    log.error("cannot write %s: %s", out, exc)
                if not ok:
                    print(f"fcus-rppg: could not save the screenshot to {out} (Qt could not write it there: "
                          f"is the folder writable?)", file=sys.stderr)
                    rc["code"] = EXIT_SCREENSHOT_FAILED
                else:
                    print(f"screenshot saved: {out}")
            if args.quit_after is not None:
                window.close()
                app.quit()

        QTimer.singleShot(int(delay_s * 1000), finish)

    if args.calibrate_after is not None:
        QTimer.singleShot(int(args.calibrate_after * 1000), window.calibrate)

    # Ctrl+C in the terminal, and SIGTERM where the platform has it (`kill PID`, a logout or shutdown),
    # close the window cleanly: a recording is finished (summary.json, "ended"). Python sees signals
    # between Qt events (the tick below).
    for name in CLOSING_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, lambda *_: window.close())
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(250)
    app.exec()
    window.worker.stop()
    return exit_status(window.worker, rc["code"])


def exit_status(worker, screenshot_rc: int = 0) -> int:
    """The exit status of a run (the first that applies): the asked source never opened (3), a
    recording failed (4), the screenshot failed (1), else 0. Says why on stderr."""
    for folder in worker.recorded:  # where the sessions went (the window said it too)
        print(f"fcus-rppg: recorded {folder}")
    if worker.asked_failure:
        print(f"fcus-rppg: the source asked for never opened: {worker.asked_failure}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    if worker.record_failure:
        print(f"fcus-rppg: {worker.record_failure}", file=sys.stderr)
        return EXIT_RECORD_FAILED
    return screenshot_rc
