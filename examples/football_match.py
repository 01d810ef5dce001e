"""Fixed-BT on the GRF full game: win rate and goals per match, and an optional GIF of a clip.

Fixed-BT is the paper's rule baseline: every player is allocated to the nearest active zone of the
subtask tree and plays the game's built-in AI action. Matches run in parallel processes.

    python examples/football_match.py --matches 20 --workers 2
    python examples/football_match.py --matches 0 --gif clip.gif --clip-steps 200
"""

from __future__ import annotations

import argparse

import imageio.v3 as iio

from rllib_maaal.envs import football


def save_clip(path: str, steps: int, config: dict) -> None:
    """Play ``steps`` steps of Fixed-BT and write the 2-D renderer's frames as a GIF."""
    env = football.make_team_env({**config, "render_mode": "rgb_array"})
    obs, _ = env.reset(seed=0)
    frames = [env.render()]
    for _ in range(steps):
        obs, *_ = env.step(football.fixed_bt_policy(obs))
        frames.append(env.render())
    env.close()
    iio.imwrite(path, frames, duration=100, loop=0)
    print(f"wrote {len(frames)} frames to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", default=football.DEFAULTS["scenario"])
    parser.add_argument("--tree", default=football.DEFAULTS["tree"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", help="also write a GIF of a clip of the first match here")
    parser.add_argument("--clip-steps", type=int, default=200)
    args = parser.parse_args()
    config = {"scenario": args.scenario, "tree": args.tree}

    if args.gif:
        save_clip(args.gif, args.clip_steps, config)
    if args.matches > 0:
        result = football.play_matches(
            football.fixed_bt_policy, args.matches, args.workers, config, seed=args.seed
        )
        print(
            f"Fixed-BT, {result['matches']} matches of {args.scenario}: "
            f"win rate {result['win_rate']:.2f} (draws {result['draw_rate']:.2f}, "
            f"losses {result['loss_rate']:.2f}), goals for {result['goals_for']:.2f}, "
            f"goals against {result['goals_against']:.2f} per match"
        )
        print("goals per match (for, against):", result["goals"])


if __name__ == "__main__":
    main()
