"""Property tests of the command line: any argv ends with an exit code and a message, never a traceback.

`main(argv)` runs in-process. Commands that would start long work get arguments that make them fail early:
`gui` and `bench` only invalid options, `train` always a dataset folder that does not exist.
"""
from __future__ import annotations

import argparse
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.cli.main import build_parser, main

ERROR_LINE = re.compile(r"^(main\.py.*: error: |Error: |Invalid configuration|FAILED at step|No PDF: )", re.M)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
QUICK = ("scan", "tasks", "config", "export", "probe", "rank", "report", "export-classifier")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction)).choices


def flags_of(command: str) -> list[str]:
    """Every option string the parser knows for `command` (help excluded: it exits 0 by design)."""
    return [flag for action in subcommands()[command]._actions for flag in action.option_strings
            if flag not in ("-h", "--help")]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Paths the fuzzer may pass: missing, a file, an empty folder, a folder with one bad image; cwd moves here."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    (root / "a_file.txt").write_text("not a folder")
    (root / "empty").mkdir()
    (root / "images").mkdir()
    (root / "images" / "broken.png").write_bytes(b"not a png")
    (root / "bad.yaml").write_text("train: {steps: -3}\ntasks: {nope: {}}\n")
    previous = os.getcwd()
    os.chdir(root)  # anything a command writes by default (runs/, exports) lands in the temporary folder
    yield root
    os.chdir(previous)


def path_values(root):
    return st.sampled_from([str(root / "missing"), str(root / "a_file.txt"), str(root / "empty"),
                            str(root / "images"), str(root / "bad.yaml"), "", "-", "runs/../..", "ü/ß/日本",
                            "a\x00b", os.fsdecode(b"caf\xe9")])


values = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["nan", "-inf", "0", "-1", "1e309", ",", "0.5,,2", "--", "fp16", "onnx"]),
                   st.text(max_size=12))


def run(argv, capsys) -> tuple[int, str]:
    """Exit code and all output of `main(argv)`; anything but SystemExit escaping is a failed example."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_clean(code: int, output: str) -> None:
    assert "Traceback" not in output, output
    if code != 0:
        assert ERROR_LINE.search(output), f"exit {code} without an error line:\n{output[-2000:]}"


@FUZZ
@given(data=st.data())
def test_quick_commands_with_any_arguments(places, capsys, data):
    command = data.draw(st.sampled_from(QUICK))
    known = st.sampled_from(flags_of(command) or ["--json"])  # `tasks` has no options of its own
    tokens = data.draw(st.lists(st.one_of(known, values, path_values(places),
                                          st.text(max_size=8).map(lambda text: "--" + text)), max_size=6))
    positional = [data.draw(path_values(places))] if command not in ("tasks", "config") else []
    assert_clean(*run([command, *positional, *tokens], capsys))


@FUZZ
@given(data=st.data())
def test_train_with_any_arguments_fails_early_and_cleanly(places, capsys, data):
    flags = [flag for flag in flags_of("train") if flag not in ("--data", "--out")]
    tokens = data.draw(st.lists(st.one_of(st.sampled_from(flags), values, path_values(places)), max_size=5))
    code, output = run(["train", *tokens, "--data", str(places / "missing"), "--out", str(places / "runs" / "x")],
                       capsys)
    assert_clean(code, output)
    assert code != 0


@FUZZ
@given(name=st.text(min_size=1, max_size=12), tokens=st.lists(values, max_size=3))
def test_unknown_commands_are_usage_errors(capsys, name, tokens):
    if name in subcommands() or name.startswith("-"):
        return
    code, output = run([name, *tokens], capsys)
    assert code == 2 and "invalid choice" in output and "Traceback" not in output


@pytest.mark.parametrize("argv", [
    ["gui", "--no-such-option"], ["gui", "--data"], ["bench", "--vs", "other"], ["bench", "--precision", "fp64"],
    ["bench", "--steps", "-1"], ["bench", "--repeats", "0"], ["bench", "--threads", "x"],
    ["bench", "--image-size", "8"], ["train", "--steps", "0"], ["train", "--demo", "mri"],
    ["probe", "r", "--seeds", "0"], ["probe", "r", "--fractions", ","], ["probe", "r", "--supervised-steps", "-2"],
    ["rank", "r", "--count", "0"], ["export", "r", "--format", "pickle"],
])
def test_long_commands_refuse_bad_options_before_starting(capsys, argv):
    code, output = run(argv, capsys)
    assert code == 2 and re.search(r"^main\.py[\w -]*: error: ", output, re.M) and "Traceback" not in output


def test_missing_or_damaged_checkpoint_is_a_message(capsys, tmp_path):
    from engine_helpers import tiny_config, tiny_dataset
    from workbench.config import save_config

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_config(tiny_config(tiny_dataset(tmp_path / "d", per_class=2), tmp_path), run_dir / "config.yaml")
    (tmp_path / "cut.pt").write_bytes(b"")
    for checkpoint, reason in ((tmp_path / "nope.pt", "checkpoint not found"),
                               (tmp_path / "cut.pt", "checkpoint cut.pt is damaged")):
        code, output = run(["export", str(run_dir), "--checkpoint", str(checkpoint)], capsys)
        assert code == 2 and f"Error: {reason}" in output and "Traceback" not in output
