"""`make gpu-check` where there is no GPU, and the parts of it that read reports and judge the goals."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.bench.compare import ArmResults
from workbench.bench.gpu_check import goal_figures, parse_junit, summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the check runs for real")
def test_without_cuda_the_check_says_so_and_exits_0(tmp_path):
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--out", str(tmp_path / "figures")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "No CUDA GPU here" in done.stdout and "nothing to run" in done.stdout


def test_the_junit_report_of_a_real_pytest_run_gives_outcomes_messages_and_figures(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_good(record_property):\n    record_property('speed', 3.5)\n"
        "def test_bad():\n    assert 1 == 2, 'one is not two'\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n", encoding="utf-8")
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "-o", "junit_family=xunit1", "test_sample.py"], cwd=tmp_path, capture_output=True, timeout=120)
    results = parse_junit(report)
    assert (results["passed"], results["failed"], results["errors"], results["skipped"]) == (1, 1, 0, 1)
    cases = {case["name"]: case for case in results["cases"]}
    assert cases["test_good"]["properties"] == {"speed": "3.5"}
    assert "one is not two" in cases["test_bad"]["message"] and cases["test_bad"]["outcome"] == "failed"


def _arm(images_per_second: float, ratio: float | None = None) -> ArmResults:
    result = {"images_per_second": images_per_second}
    if ratio is not None:
        result["ratio"] = ratio
    return ArmResults(speed=[result])


def test_goals_are_ours_in_bf16_over_each_lightly_arm_and_say_which_were_missed():
    results = {("simclr", "ours", "bf16"): _arm(9000, 0.9), ("simclr", "ours", "fp32"): _arm(6000, 0.97),
               ("simclr", "lightly", "bf16"): _arm(5000), ("simclr", "lightly", "fp32"): _arm(3000)}
    goals = goal_figures(results, ["simclr"])
    assert goals == {"simclr": {"vs_lightly_usual": 3.0, "vs_lightly_bf16": 1.8, "whole_over_model_step": 0.9}}
    text = summary({"machine": {"gpu": "Some GPU"}, "throughput": [
        {"setting": "resnet18, 32 px, batch 512", "seconds": 10.0, "table": "", "ratios": [], "goals": goals}]})
    assert "vs_lightly_usual 3.0 (met >= 2.0)" in text and "whole_over_model_step 0.9 (MISSED >= 0.95)" in text
