"""Every option of every subcommand has a help text, descriptions show no raw RST markup, and the
README's app usage line names every app option."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from app.cli import APP, SUBCOMMANDS

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {"app": APP, **SUBCOMMANDS}


class _Built(Exception):
    pass


def built_parser(command: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a subcommand builds, caught as it starts parsing (nothing runs)."""
    module, func = COMMANDS[command]
    try:
        entry = getattr(importlib.import_module(module), func)
    except ImportError as exc:  # e.g. torch absent for the training commands
        pytest.skip(f"{module} not importable here: {exc}")
    seen: list[argparse.ArgumentParser] = []

    def catch(self, *args, **kwargs):
        seen.append(self)
        raise _Built

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Built):
        entry([])
    return seen[0]


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help(command, monkeypatch):
    parser = built_parser(command, monkeypatch)
    missing = [a.option_strings or [a.dest] for a in _options(parser) if not (a.help or "").strip()]
    assert missing == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_descriptions_show_no_rst_markup(command, monkeypatch):
    parser = built_parser(command, monkeypatch)
    assert parser.description and "``" not in parser.format_help()


def test_readme_app_usage_names_every_app_option(monkeypatch):
    parser = built_parser("app", monkeypatch)
    readme = REPO.joinpath("README.md").read_text()
    usage = re.search(r"`(fcus-rppg \[--source[^`]*)`", readme)
    assert usage, "the README's app usage line"
    text = usage.group(1)
    for action in _options(parser):
        assert any(opt in text for opt in action.option_strings), action.option_strings


def test_app_module_usage_names_every_app_option(monkeypatch):
    from app import main as app_main

    parser = built_parser("app", monkeypatch)
    for action in _options(parser):
        assert any(opt in app_main.__doc__ for opt in action.option_strings), action.option_strings


@pytest.mark.parametrize("bad", [["--quit-after", "-1"], ["--quit-after", "soon"], ["--quit-after", "inf"],
                                 ["--quit-after", "3000000"], ["--calibrate-after", "-3"],
                                 ["--screenshot", "shot.txt"]])
def test_app_option_values_that_cannot_work_are_argument_errors(bad, capsys):
    from app.main import build_parser

    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(bad)
    assert e.value.code == 2 and bad[0] in capsys.readouterr().err


def test_app_option_values_that_work_parse():
    from app.main import build_parser

    args = build_parser().parse_args(["--quit-after", "0", "--screenshot", "a/b.PNG", "--calibrate-after", "2.5"])
    assert (args.quit_after, args.screenshot, args.calibrate_after) == (0.0, "a/b.PNG", 2.5)


def _interrupted(argv):
    raise KeyboardInterrupt


def test_ctrl_c_ends_a_command_with_a_line_not_a_traceback(monkeypatch, capsys):
    from app import cli

    monkeypatch.setitem(cli.SUBCOMMANDS, "analyze", ("tests.test_cli_help", "_interrupted"))
    assert cli.main(["analyze", "x.mp4", "--out", "o"]) == 130
    err = capsys.readouterr().err
    assert "fcus-rppg analyze: interrupted" in err and "Traceback" not in err
