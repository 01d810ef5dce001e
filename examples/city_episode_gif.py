"""Save a GIF of one SAVETHECITY episode played by the scripted team (rule allocation + rule
actions, i.e. Fixed-BT): lines join each agent to the building of its allocated subtask.

    python examples/city_episode_gif.py --scenario 7a_7b --out city.gif
"""

from __future__ import annotations

import argparse

import imageio.v2 as imageio

from rllib_maaal.envs.city import heuristic_policy, make_team_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="7a_7b")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="city.gif")
    parser.add_argument("--fps", type=int, default=8)
    args = parser.parse_args()

    team = make_team_env({"scenario": args.scenario, "teams": "fixed", "render_mode": "rgb_array"})
    obs, _ = team.reset(seed=args.seed)
    frames, done, total = [team.render()], False, 0.0
    while not done:
        obs, reward, terminated, truncated, info = team.step(heuristic_policy(obs))
        frames.append(team.render())
        total += reward
        done = terminated or truncated
    imageio.mimsave(args.out, frames, duration=1000 / args.fps, loop=0)
    print(
        f"{args.out}: {len(frames) - 1} steps, return {total:.1f}, "
        f"completed {info['fraction_completed']:.0%}, solved {bool(info['success'])}"
    )


if __name__ == "__main__":
    main()
