"""``rllib report``: methods grouped over seeds, mean ± 95 % CI, greedy metrics preferred."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rllib_maaal import cli, report
from rllib_maaal.curves import trial_dirs, trial_names

T_975_2 = 4.302652729749462  # Student t quantile 0.975 with 2 degrees of freedom


def write_trial(
    path: Path, params: dict[str, Any], rows: list[dict[str, Any]], config: dict[str, Any]
) -> Path:
    """A Tune trial directory: params.json and result.json (each row carries the config)."""
    path.mkdir(parents=True)
    (path / "params.json").write_text(json.dumps(params))
    text = "".join(
        json.dumps({**row, "config": config, "trial_id": path.name}) + "\n" for row in rows
    )
    (path / "result.json").write_text(text)
    return path


def result(steps: int, seconds: float, train: dict, evaluation: dict | None = None) -> dict:
    row = {"num_env_steps_sampled_lifetime": steps, "time_total_s": seconds, "env_runners": train}
    if evaluation is not None:
        row["evaluation"] = {"env_runners": evaluation}
    return row


def city(ret: float, fraction: float, success: float) -> dict[str, float]:
    return {"episode_return_mean": ret, "fraction_completed": fraction, "success": success}


NAN = float("nan")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """maaal over seeds 0-2 (greedy evaluations; RLlib's NaN and repeated rows in between),
    fixed-bt with one seed, and an experiment that never evaluated."""
    maaal = {"allocation": "learned", "action": "learned", "mixer": "qmix"}
    for seed, final in enumerate((-10.0, -12.0, -17.0)):
        rows = [
            result(100, 10.0, city(-50, 0.0, 0.0), city(-40, 0.1, 0.0)),
            result(200, 20.0, city(-45, 0.1, 0.0), city(-40, 0.1, 0.0)),  # repeated
            result(300, 30.0, city(-40, 0.2, 0.0), city(NAN, NAN, NAN)),
            result(400, 40.0 + seed, city(-30, 0.3, 0.0), city(final, 0.5 + seed / 10, seed / 2)),
        ]
        write_trial(tmp_path / "maaal" / f"MAAAL_city_{seed}", {"seed": seed}, rows, maaal)
    rule = {"allocation": "rule", "action": "rule", "mixer": "qmix"}
    rows = [result(100, 5.0, city(-3, 0.7, 0.2), city(-2.0, 0.7, 0.25))]
    write_trial(tmp_path / "fixed-bt" / "MAAAL_city_0", {"seed": 0}, rows, rule)
    rows = [result(50, 1.0, {"episode_return_mean": -60.0})]
    write_trial(tmp_path / "ppo" / "PPO_city_0", {"lr": 0.001}, rows, {"lr": 0.001})
    return tmp_path


def table_rows(text: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_each_method_is_the_mean_and_95_ci_of_its_seeds_last_greedy_values(runs, capsys):
    dirs = [runs / "maaal", runs / "fixed-bt", runs / "ppo"]
    assert cli.main(["report", *map(str, dirs)]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert list(rows) == ["maaal", "fixed-bt", "ppo"]
    finals = np.array([-10.0, -12.0, -17.0])
    half = T_975_2 * finals.std(ddof=1) / np.sqrt(3)
    variant, seeds, ret, fraction, success, steps, wall = rows["maaal"]
    assert (variant, seeds) == ("MAAAL", "0, 1, 2")
    assert ret == f"{finals.mean():.1f} ± {half:.1f}"
    assert fraction == f"0.60 ± {T_975_2 * 0.1 / np.sqrt(3):.2f}"
    assert success == f"0.50 ± {T_975_2 * 0.5 / np.sqrt(3):.2f}"
    assert (steps, wall) == ("400", "41s")
    # one seed: no interval; the variant comes from the allocation/action modes
    assert rows["fixed-bt"][:5] == ["Fixed-BT", "0", "-2.0", "0.70", "0.25"]
    # no evaluation: the exploring return, marked; metrics it never logged are n/a
    assert rows["ppo"][:5] == ["PPO", "1 trial(s)", "-60.0 †", "n/a", "n/a"]
    header = out.splitlines()[0]
    assert (
        "return = `evaluation/env_runners/episode_return_mean` or "
        "`env_runners/episode_return_mean`, " in header
    )
    assert "success rate = `evaluation/env_runners/success` (" in header
    assert "† no greedy evaluation logged" in out


def test_seed_grid_is_one_method_other_keys_split_it(tmp_path):
    rows = [result(100, 1.0, city(-1, 0, 0))]
    for lr in (0.001, 0.002):
        for seed in (0, 1):
            path = tmp_path / "grid" / f"PPO_{lr}_{seed}"
            write_trial(path, {"lr": lr, "seed": seed, "env_config": {"n": 2}}, rows, {})
    names = trial_names(trial_dirs([tmp_path / "grid"]))
    assert [n.method for n in names] == ["grid[lr=0.001]"] * 2 + ["grid[lr=0.002]"] * 2
    assert [n.label for n in names][:2] == ["grid[lr=0.001] seed=0", "grid[lr=0.001] seed=1"]


def test_a_key_only_newer_trials_record_does_not_split_the_method(tmp_path):
    rows = [result(100, 1.0, city(-1, 0, 0))]
    write_trial(tmp_path / "qmix" / "old", {"seed": 0, "lr": 0.1}, rows, {})
    for seed, lr in ((1, 0.1), (2, 0.2)):
        params = {"seed": seed, "lr": lr, "approach_reward_weight": 0.0}
        write_trial(tmp_path / "qmix" / f"new{seed}", params, rows, {})
    dirs = trial_dirs([tmp_path / "qmix"])
    methods = {d.name: n.method for d, n in zip(dirs, trial_names(dirs), strict=True)}
    assert methods == {"old": "qmix[lr=0.1]", "new1": "qmix[lr=0.1]", "new2": "qmix[lr=0.2]"}


def test_one_experiment_name_under_two_roots_is_two_methods(tmp_path):
    rows = [result(100, 1.0, city(-1, 0, 0))]
    for root in ("a", "b"):
        write_trial(tmp_path / root / "maaal" / "t", {"seed": 0}, rows, {})
    names = trial_names(trial_dirs([tmp_path / "a", tmp_path / "b"]))
    assert [n.method for n in names] == ["a/maaal", "b/maaal"]


def test_a_seed_that_never_evaluated_is_counted_out(tmp_path):
    config = {"allocation": "rule", "action": "learned"}
    write_trial(
        tmp_path / "r-al" / "t0", {"seed": 0}, [result(9, 1.0, {}, city(-4, 0.5, 0))], config
    )
    write_trial(tmp_path / "r-al" / "t1", {"seed": 1}, [result(9, 1.0, city(-9, 0, 0))], config)
    trials = report.load_trials([tmp_path])
    (row,) = table_rows(report.markdown(trials, report.columns(trials))).values()
    assert row[:3] == ["R-AL", "0, 1", "-4.0 (n=1)"]


def test_files_keep_only_the_table_metrics_and_changed_values(runs, tmp_path, capsys):
    out = {k: tmp_path / "docs" / f"r.{k}" for k in ("md", "csv", "json")}
    args = ["report", str(runs / "maaal"), "-o", str(out["md"])]
    assert cli.main([*args, "--csv", str(out["csv"]), "--json", str(out["json"])]) == 0
    assert out["md"].read_text() == capsys.readouterr().out.split("wrote ")[0]
    lines = list(csv.reader(io.StringIO(out["csv"].read_text())))
    assert lines[0] == [
        "method",
        "variant",
        "seed",
        "trial_id",
        "num_env_steps_sampled_lifetime",
        "time_total_s",
        "evaluation/env_runners/episode_return_mean",
        "evaluation/env_runners/fraction_completed",
        "evaluation/env_runners/success",
    ]
    # per seed: the first evaluation and the last (the repeat and the NaN row dropped)
    assert [row[:5] for row in lines[1:3]] == [
        ["maaal", "MAAAL", "0", "MAAAL_city_0", "100"],
        ["maaal", "MAAAL", "0", "MAAAL_city_0", "400"],
    ]
    assert len(lines) == 1 + 3 * 2
    data = json.loads(out["json"].read_text())
    assert data["last"] == 1
    (method,) = data["methods"]
    assert method["summary"]["return"]["mean"] == pytest.approx(-13.0)
    assert method["summary"]["return"]["n"] == 3
    curve = method["trials"][2]["curve"]
    assert curve["evaluation/env_runners/episode_return_mean"] == [-40.0, -17.0]


def test_metric_columns_replace_the_defaults_and_a_typo_is_one_line(runs, capsys):
    assert cli.main(["report", str(runs / "maaal"), "-m", "success"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\| method \| variant \| seeds \| success \| env steps", out, re.M), out
    assert cli.main(["report", str(runs / "maaal"), "-m", "sucess"]) == 2
    err = capsys.readouterr().err
    assert "no trial logged 'evaluation/env_runners/sucess'" in err
    assert "closest logged metrics: evaluation/env_runners/success" in err


def test_a_csv_of_raw_curves_reads_back_as_the_table_it_was_written_from(runs, tmp_path, capsys):
    # r-al's last result repeats its evaluation: the CSV keeps it for the env steps and time
    evaluated = [result(100, 10.0, city(-9, 0.2, 0), city(-5, 0.5, 0))]
    repeated = [result(200, 20.0, city(-8, 0.2, 0), city(-5, 0.5, 0))]
    config = {"allocation": "rule", "action": "learned"}
    write_trial(runs / "r-al" / "t0", {"seed": 0}, evaluated + repeated, config)
    dirs = [str(runs / "maaal"), str(runs / "fixed-bt"), str(runs / "r-al")]
    kept = tmp_path / "docs" / "kept.csv"
    assert cli.main(["report", *dirs, "--csv", str(kept)]) == 0
    table = table_rows(capsys.readouterr().out)
    assert table["r-al"] == ["R-AL", "0", "-5.0", "0.50", "0.00", "200", "20s"]
    assert cli.main(["report", str(kept)]) == 0
    out = capsys.readouterr().out
    assert table_rows(out) == table  # variant, seeds, mean ± CI, env steps and wall time
    assert out.startswith("Read from each trial's result.json or CSV: ")


def test_a_csv_method_and_an_experiment_of_its_name_are_one_method_over_both_seeds(
    runs, tmp_path, capsys
):
    trials = report.load_trials([runs / "maaal"])
    all_seeds = table_rows(report.markdown(trials, report.columns(trials)))
    kept = tmp_path / "kept.csv"  # seeds 0 and 1 kept in a CSV, seed 2 run anew
    seeds_0_1 = [str(runs / "maaal" / f"MAAAL_city_{seed}") for seed in (0, 1)]
    assert cli.main(["report", *seeds_0_1, "--csv", str(kept)]) == 0
    new = tmp_path / "new" / "maaal"
    new.mkdir(parents=True)
    (runs / "maaal" / "MAAAL_city_2").rename(new / "MAAAL_city_2")
    capsys.readouterr()
    assert cli.main(["report", str(kept), str(tmp_path / "new")]) == 0
    assert table_rows(capsys.readouterr().out) == all_seeds


def test_a_csv_that_is_not_raw_curves_is_one_line_naming_what_it_lacks(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,return\n1,2\n")
    assert cli.main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs the columns method, seed and trial_id; it has step, return" in err
    bad.write_text("method,seed,trial_id,time_total_s\nmaaal,0,t,soon\n")
    assert cli.main(["plot", str(bad)]) == 2
    assert "bad.csv, line 2: every column but method, variant, seed, trial_id" in (
        capsys.readouterr().err
    )


def test_last_n_is_the_mean_of_each_trials_last_n_evaluations_repeats_counted_once(
    tmp_path, capsys
):
    # evaluations at 100 and 200 env steps; the result at 300 is RLlib's repeat of the second
    config = {"allocation": "learned", "action": "learned"}
    for seed, shift in enumerate((0.0, 4.0)):
        rows = [
            result(100, 10.0, city(-50, 0, 0), city(-30 + shift, 0.4, 0.0)),
            result(200, 20.0, city(-45, 0, 0), city(-20 + shift, 0.6, 0.0)),
            result(300, 30.0, city(-40, 0, 0), city(-20 + shift, 0.6, 0.0)),
        ]
        write_trial(tmp_path / "maaal" / f"t{seed}", {"seed": seed}, rows, config)
    assert cli.main(["report", str(tmp_path / "maaal"), "--last", "2"]) == 0
    out = capsys.readouterr().out
    ret, fraction, success = table_rows(out)["maaal"][2:5]
    half = 12.706204736174698 * 4.0 / np.sqrt(2) / np.sqrt(2)  # t(1 dof), two seeds 4 apart
    assert ret == f"-23.0 ± {half:.1f}"  # seeds -25 and -21: not -20 and -16 (repeat counted)
    assert (fraction, success) == ("0.50 ± 0.00", "0.00 ± 0.00")
    assert "each trial's mean of its last 2 evaluations" in out
    # the raw-curves CSV keeps the evaluations, so it gives the same table
    kept = tmp_path / "kept.csv"
    assert cli.main(["report", str(tmp_path / "maaal"), "--csv", str(kept)]) == 0
    capsys.readouterr()
    assert cli.main(["report", str(kept), "--last", "2"]) == 0
    assert table_rows(capsys.readouterr().out)["maaal"][2:5] == [ret, fraction, success]
    assert cli.main(["report", str(kept), "--last", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--last must be an int >= 1" in err
