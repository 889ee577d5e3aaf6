"""dev.py: `app` checks for the Qt xcb libraries on Linux X11 (and prints the install command);
`lint` runs every linter."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dev_script", REPO / "dev.py")
dev = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dev)

X11 = {"DISPLAY": ":0"}


def finder_without(*absent: str):
    return lambda name: None if name in absent else f"lib{name}.so"


def test_missing_libraries_give_the_exact_install_command():
    msg = dev.check_qt_xcb(finder_without("xcb-icccm", "xcb-keysyms"), "linux", X11)
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in msg


def test_nothing_missing_or_not_an_x11_session_passes():
    everything = finder_without()
    nothing = finder_without(*dev.XCB_LIBS)
    assert dev.check_qt_xcb(everything, "linux", X11) == ""
    for platform, env in [("linux", {"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}),
                          ("linux", {"QT_QPA_PLATFORM": "wayland"}),
                          ("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}),
                          ("linux", {}),  # no display at all
                          ("darwin", X11), ("win32", X11)]:
        assert dev.check_qt_xcb(nothing, platform, env) == "", (platform, env)
    assert dev.check_qt_xcb(nothing, "linux", {"QT_QPA_PLATFORM": "xcb"}) != ""


def test_every_xcb_plugin_library_maps_to_a_package():
    for lib in ("xcb-cursor", "xcb-icccm", "xcb-keysyms", "xkbcommon-x11", "xcb-render-util", "EGL", "GL"):
        assert dev.XCB_LIBS[lib]


def test_dev_app_exits_2_before_any_set_up(monkeypatch, capsys):
    monkeypatch.setattr(dev, "check_qt_xcb", lambda: "dev.py: ... sudo apt-get install libxcb-icccm4")

    def no_setup(*a, **k):
        raise AssertionError("set-up must not start")

    monkeypatch.setattr(dev, "ensure_env", no_setup)
    assert dev.main(["app"]) == 2
    assert "apt-get install libxcb-icccm4" in capsys.readouterr().err


def test_lint_runs_every_linter_and_fails_when_one_fails(monkeypatch):
    calls = []

    def call(cmd, cwd):
        calls.append(Path(cmd[0]).name)
        return 1 if Path(cmd[0]).name == "lint-imports" else 0

    monkeypatch.setattr(dev.subprocess, "call", call)
    assert dev.lint() == 1
    assert calls == ["ruff", "lint-imports"]
    monkeypatch.setattr(dev.subprocess, "call", lambda cmd, cwd: 0)
    assert dev.lint() == 0
