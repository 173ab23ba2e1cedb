"""One measurement in its own process: `python -m workbench.bench.worker '<BenchSpec JSON>'`.

A fresh process per measurement keeps the pipelines from sharing OpenMP thread pools, allocator state or
DataLoader workers. The result is the last stdout line, prefixed with RESULT_PREFIX.
"""
from __future__ import annotations

import json
import sys

from workbench.bench.spec import BenchSpec

RESULT_PREFIX = "BENCH-RESULT "


def run_spec(spec: BenchSpec) -> dict:
    """Run one measurement in this process."""
    if spec.pipeline == "lightly":
        from workbench.bench.lightly_pipeline import run_lightly

        return run_lightly(spec)
    from workbench.bench.ours import run_ours

    return run_ours(spec)


def main(argv: list[str]) -> int:
    spec = BenchSpec.from_json(argv[0])
    print(RESULT_PREFIX + json.dumps(run_spec(spec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
