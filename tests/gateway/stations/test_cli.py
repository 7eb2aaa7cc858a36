"""`panic-gateway stations ...`: import (all or nothing, problems on stderr), list, route."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.main import main
from tests.gateway.stations.files import CSV, OVERPASS, SAMPLE


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    status = main(["stations", "--database-url", url, *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_import_list_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    status, out, _ = run(capsys, url, "import", str(SAMPLE))
    assert status == 0 and out.endswith("9 created, 0 updated, 0 unchanged, 0 removed, 0 skipped\n")
    osm = tmp_path / "police.json"
    osm.write_text(json.dumps(OVERPASS))
    status, out, _ = run(capsys, url, "import", str(osm))
    assert status == 0 and "3 created" in out and "2 skipped" in out
    status, out, _ = run(capsys, url, "list")
    lines = out.splitlines()
    assert lines[0] == "id,name,kind,parent,lat,lon,phones,coverage" and len(lines) == 13
    assert "polsek-kedaton,\"Polsek Kedaton (sample)\",polsek,polresta-bandar-lampung,-5.38,105.25,\"110\",no" \
        in lines
    status, out, _ = run(capsys, url, "route", "-5.4178901", "105.2545678", "--candidates", "2")
    assert status == 0
    assert out.splitlines()[:2] == ["basis: nearest",
                                    "station: osm-node-1001 (Polsek Tanjung Karang Pusat) 263 m"]
    assert len(out.splitlines()) == 4


def test_a_refused_file_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV)
    bad.write_text(CSV.replace("Polres A", "Polres A Baru")
                   + "polsek-x,X,polsek,,-5,181,\npolsek-b,B,polsek,,-5,105,\n")
    assert run(capsys, url, "import", str(good))[0] == 0
    status, _, err = run(capsys, url, "import", "--replace", str(bad))
    assert status == 1
    # what cannot be read is reported first; consistency (ids, parents) once every line reads
    assert err.splitlines() == [f"{bad}: refused, nothing imported:", "  line 5: lon 181 is outside ±180"]
    bad.write_text(CSV + "polsek-b,B,polsek,,-5,105,\n")
    status, _, err = run(capsys, url, "import", str(bad))
    assert status == 1 and err.splitlines()[1:] == ["  line 5: station id polsek-b also at line 3"]
    assert "Polres A Baru" not in run(capsys, url, "list")[1]
    status, _, err = run(capsys, url, "import", str(tmp_path / "missing.csv"))
    assert status == 1 and "cannot read" in err


def test_the_installed_command(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("panic-gateway")
    done = subprocess.run([str(command), "stations", "import", str(SAMPLE)], capture_output=True, text=True,
                          env={"PANIC_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "PATH": "/usr/bin:/bin"},
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "9 created" in done.stdout
    usage = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert "--database-url" in usage.stdout and "--no-api" in usage.stdout  # the gateway's own options stay
    assert "panic-gateway stations {import,list,route}" in " ".join(usage.stdout.split())  # the help names it


def test_the_list_is_csv_whatever_the_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(CSV.replace("Polres A", '"Polres ""A"", Kota"'))
    assert run(capsys, url, "import", str(quoted))[0] == 0
    rows = list(csv.reader(io.StringIO(run(capsys, url, "list")[1])))
    assert rows[0] == ["id", "name", "kind", "parent", "lat", "lon", "phones", "coverage"]
    assert rows[1] == ["polres-a", 'Polres "A", Kota', "polres", "", "-5.428", "105.262", "0721 111;+62 721 222",
                       "no"]


@pytest.mark.parametrize("candidates", ["-1", "21"])
def test_route_refuses_a_candidate_count_the_api_would(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       candidates: str) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    with pytest.raises(SystemExit) as exited:
        run(capsys, url, "route", "-5.41", "105.25", "--candidates", candidates)
    assert exited.value.code == 2 and "--candidates: 0 to 20" in capsys.readouterr().err
