"""Cost of one behaviour-tree tick per city: ``py_trees`` itself vs the compiled NumPy tree.

The city's tree (per building, in parallel, [on fire → firefight] else [needs repair → repair]) is
ticked for B cities with random conditions: ``py_trees`` needs one tick per city, the compiled tree
one batched tick for all of them.

    python benchmarks/bt_tick.py [--cities 256]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rllib_maaal.bt import CompiledTree, tick_instance
from rllib_maaal.envs.city.core import city_tree


def per_city_microseconds(n_buildings: int, cities: int, repeats: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    conditions = {
        "on_fire": rng.random((cities, n_buildings)) < 0.4,
        "needs_repair": rng.random((cities, n_buildings)) < 0.6,
    }
    root = city_tree(n_buildings)
    tree = CompiledTree(root, 2 * n_buildings)
    start = time.perf_counter()
    for b in range(cities):
        tick_instance(root, {k: v[b] for k, v in conditions.items()}, 2 * n_buildings)
    reference = (time.perf_counter() - start) / cities
    start = time.perf_counter()
    for _ in range(repeats):
        tree.tick(conditions, cities)
    compiled = (time.perf_counter() - start) / (repeats * cities)
    return reference * 1e6, compiled * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"{'buildings':>9} {'cities':>6} {'py_trees µs':>12} {'compiled µs':>12} {'speed-up':>9}")
    for n_buildings in (8, 17, 25):
        for cities in (1, args.cities):
            slow, fast = per_city_microseconds(n_buildings, cities, args.repeats)
            print(f"{n_buildings:9} {cities:6} {slow:12.1f} {fast:12.2f} {slow / fast:8.0f}×")


if __name__ == "__main__":
    main()
