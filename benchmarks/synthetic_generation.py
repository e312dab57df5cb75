"""Wall time and peak memory of synthetic county generation.

Goals: the default county (one LA, scale 1) in under 30 s; 20 local
authorities in under 5 minutes on 2 cores. Each configuration runs in a fresh
process so its peak resident memory (ru_maxrss) is its own.

    python benchmarks/synthetic_generation.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from evaluation.synthetic import generate_county
kwargs = json.loads(sys.argv[1])
start = time.perf_counter()
generate_county(sys.argv[2], **kwargs)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                  "peak_rss_mb": max(usage.ru_maxrss, children.ru_maxrss) / 1024}))
"""

CONFIGS = {
    "default county (1 LA, scale 1)": ({"seed": 0}, 30.0),
    "20 local authorities, 2 workers": ({"seed": 0, "local_authorities": 20, "workers": 2}, 300.0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the default county")
    args = parser.parse_args()
    configs = dict(list(CONFIGS.items())[:1]) if args.quick else CONFIGS
    print(f"{'configuration':<34} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'goal s':>7}  ok")
    ok_all = True
    for name, (kwargs, goal) in configs.items():
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(kwargs), out],
                                    check=True, capture_output=True, text=True)
        m = json.loads(result.stdout.strip().splitlines()[-1])
        ok = m["wall_s"] < goal
        ok_all &= ok
        print(f"{name:<34} {m['wall_s']:8.1f} {m['cpu_s']:8.1f} {m['peak_rss_mb']:8.0f} {goal:7.0f}  "
              f"{'yes' if ok else 'NO'}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
