"""`main.py eval` evaluations added after the first version: the DSM paper preset and the interactive
(click prompt) protocol, run end to end on a few real images through the CLI."""

from __future__ import annotations

import json

import pytest

from engine.cli import main


def test_dsm_semantic_paper_preset_runs_and_reports(shared_data, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["-q", "eval", "dsm-semantic", "--data", str(shared_data / "voc12_samples"), "--limit", "2",
                 "--backbone", "random_vitt16", "--max-side", "96", "--clusters", "6", "--preset", "paper",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["preset"] == "paper" and report["n_images"] == 2
    assert 0.0 <= report["scores"]["miou"] <= 1.0
    assert main(["-q", "eval", "dsm-semantic", "--data", str(shared_data / "voc12_samples"),
                 "--clusters", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_interactive_eval_prints_all_methods_from_one_run(shared_data, tmp_path, capsys):
    out = tmp_path / "i.json"
    assert main(["-q", "eval", "interactive", "--data", str(shared_data / "weizmann_horse"), "--limit", "1",
                 "--max-clicks", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for method in ("ours", "grabcut", "random-walker"):
        assert method in text
    scores = json.loads(out.read_text())["scores"]
    assert {"ours.noc90", "grabcut.noc90", "random-walker.noc90"} <= set(scores)
    assert all(1 <= scores[f"{m}.noc90"] <= 2 for m in ("ours", "grabcut", "random-walker"))


@pytest.mark.parametrize("bad", [["--max-clicks", "0"]])
def test_interactive_eval_rejects_bad_arguments(shared_data, bad, capsys):
    assert main(["-q", "eval", "interactive", "--data", str(shared_data / "sod_bsds"), *bad]) == 2
    assert "error:" in capsys.readouterr().err
