"""Run every benchmark in turn (`make bench`); each writes its table to bench/results/<area>.md."""

from __future__ import annotations

import subprocess
import sys

# bench_scale (the whole graph at 1x/10x/50x, ~40 minutes) runs on its own: see the README
BENCHES = ["bench.bench_gateway", "bench.bench_ranking", "bench.bench_curation", "bench.bench_reward",
           "bench.bench_embed"]


def main() -> int:
    failed = []
    for module in BENCHES:
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
