"""`panic-fw build` (provision/build.py) and the simulator's cached build (simulator/compiled.py).

Builds run on copies of firmware/ where a test changes or breaks a source,
so nothing here edits the repository's firmware.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from broker import tls
from provision.build import (
    BOARD_FILE,
    FIRMWARE,
    MANIFEST,
    ROMFS_FILE,
    BuildError,
    build,
    cached_build,
    main,
    module,
    mpy_header,
    package_units,
)
from simulator.button import DEVICE_DIR, micropython_binary
from simulator.compiled import firmware_path, loadable

SOURCES = sorted(p.relative_to(FIRMWARE).as_posix() for p in (FIRMWARE / "panic").rglob("*.py"))


def firmware_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def listed(out: Path) -> dict[str, str]:
    manifest = json.loads((out / MANIFEST).read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def test_build_compiles_the_package_and_keeps_the_entry_points_as_source(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    assert main(["build", "--out", str(out)]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    modules = [name.removesuffix(".py") + ".mpy" for name in SOURCES]
    assert files == sorted(["boot.py", "main.py", "board.json", MANIFEST, *modules])
    for name in ("boot.py", "main.py"):
        assert (out / name).read_bytes() == (FIRMWARE / name).read_bytes()
    assert (out / "board.json").read_bytes() == BOARD_FILE.read_bytes()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["arch"] == "xtensawin" and manifest["firmware"]
    for name in modules:
        header = mpy_header(out / name)
        # The version the ESP32's MicroPython loads; no native code, so no architecture is recorded.
        assert (header.version, header.arch) == (6, None), name


def test_native_code_is_compiled_for_xtensawin(tmp_path: Path) -> None:
    """-march=xtensawin reaches mpy-cross: a module with native code says so in its header."""
    firmware = firmware_copy(tmp_path)
    (firmware / "panic" / "fast.py").write_text(
        "import micropython\n\n\n@micropython.native\ndef double(x: int) -> int:\n    return x * 2\n")
    out = tmp_path / "deploy"
    build(firmware, out)
    assert mpy_header(out / "panic" / "fast.mpy").arch == "xtensawin"
    assert mpy_header(out / "panic" / "app.mpy").arch is None


def test_manifest_hashes_match_every_file(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    build(FIRMWARE, out)
    on_disk = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in out.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert listed(out) == on_disk
    sizes = {f["path"]: f["size"] for f in json.loads((out / MANIFEST).read_text())["files"]}
    assert sizes == {name: (out / name).stat().st_size for name in on_disk}


def test_console_script_builds(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    result = subprocess.run([str(Path(sys.executable).with_name("panic-fw")), "build", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "for xtensawin" in result.stdout and (out / "panic" / "app.mpy").is_file()


def test_syntax_error_names_the_file_and_keeps_the_previous_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    firmware = firmware_copy(tmp_path)
    out = tmp_path / "deploy"
    assert main(["build", "--firmware", str(firmware), "--out", str(out)]) == 0
    before = listed(out)
    (firmware / "panic" / "link.py").write_text((firmware / "panic" / "link.py").read_text() + "\ndef broken(:\n")
    capsys.readouterr()
    assert main(["build", "--firmware", str(firmware), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    lines = len((firmware / "panic" / "link.py").read_text().splitlines())
    assert f"link.py, line {lines}: SyntaxError: invalid syntax" in err, err
    assert "def broken(:" in err and "Traceback" not in err, err
    assert listed(out) == before  # the unit's last good build is still there, whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".deploy")]  # no half-written leftovers


def test_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(BuildError, match="not a previous build"):
        build(FIRMWARE, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_bad_board_definition_is_refused(tmp_path: Path) -> None:
    board = tmp_path / "board.json"
    data = json.loads(BOARD_FILE.read_text())
    del data["functions"]["sos_button"]
    board.write_text(json.dumps(data))
    with pytest.raises(BuildError, match=r"board\.json: .*sos_button"):
        build(FIRMWARE, tmp_path / "deploy", board=board)
    assert not (tmp_path / "deploy").exists()


def test_the_brokers_ca_goes_in_as_ca_der_and_anything_else_is_refused(tmp_path: Path) -> None:
    """--ca: what firmware/panic/tls.py loads for a TLS endpoint; PEM, a server certificate, garbage: refused."""
    files = tls.ensure(tmp_path / "broker")
    assert files.ca_der is not None and files.ca_pem is not None
    out = tmp_path / "deploy"
    assert main(["build", "--out", str(out), "--ca", str(files.ca_der), "--arch", "xtensawin"]) == 0
    assert (out / "ca.der").read_bytes() == files.ca_der.read_bytes()
    assert listed(out)["ca.der"] == hashlib.sha256(files.ca_der.read_bytes()).hexdigest()
    server_der = tmp_path / "server.der"
    server_der.write_bytes(x509.load_pem_x509_certificate(files.cert.read_bytes()).public_bytes(Encoding.DER))
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x03\x02\x01\x00")
    for bad, why in ((files.ca_pem, "is PEM; a unit reads DER: openssl x509"),
                     (server_der, "a server certificate, not a CA's"),
                     (garbage, "not a DER X.509 CA certificate"),
                     (tmp_path / "missing.der", "cannot read the CA certificate")):
        with pytest.raises(BuildError, match=re.escape(why)):
            build(FIRMWARE, tmp_path / "other", ca=bad)
        assert not (tmp_path / "other").exists()


def test_simulator_build_is_the_same_bytecode_as_the_device_build(tmp_path: Path) -> None:
    build(FIRMWARE, tmp_path / "deploy")
    [compiled] = firmware_path(FIRMWARE, DEVICE_DIR, micropython_binary(), cache=tmp_path / "cache")
    device = {k: v for k, v in listed(tmp_path / "deploy").items() if k.startswith("panic/")}
    simulator = {k: v for k, v in listed(compiled).items() if k.startswith("panic/")}
    # Holds while the firmware has no native code (a native function is compiled per architecture).
    assert simulator == device
    # The simulator's own device modules (simmain, vhal, and what the GPS branch added beside them).
    device_modules = sorted(p.with_suffix(".mpy").name for p in DEVICE_DIR.glob("*.py"))
    assert {"simmain.mpy", "vhal.mpy"} <= set(device_modules)
    assert sorted(p.name for p in compiled.glob("*.mpy")) == device_modules
    assert not list(compiled.rglob("*.py"))
    assert mpy_header(compiled / "simmain.mpy").version == loadable(micropython_binary())[1]


def test_modules_are_compiled_without_source_lines(tmp_path: Path) -> None:
    """1.8 KB less bytecode on a unit's heap; a traceback still names the file and the function."""
    firmware = firmware_copy(tmp_path)
    (firmware / "panic" / "boom.py").write_text('def boom() -> None:\n    x = 1\n    raise ValueError(x)\n')
    [compiled] = firmware_path(firmware, DEVICE_DIR, micropython_binary(), cache=tmp_path / "cache")
    result = subprocess.run([micropython_binary(), "-c", "from panic import boom\nboom.boom()"],
                            env={"MICROPYPATH": f"{compiled}:.frozen"}, capture_output=True, text=True, timeout=30)
    traceback = result.stdout + result.stderr
    assert 'File "boom", line 1, in boom' in traceback and "line 3" not in traceback, traceback
    build(firmware, tmp_path / "deploy")
    manifest = json.loads((tmp_path / "deploy" / MANIFEST).read_text())
    assert manifest["mpy_cross_options"] == ["-X", "no-source-lines"]


def test_changed_source_triggers_a_rebuild(tmp_path: Path) -> None:
    firmware = firmware_copy(tmp_path)
    cache = tmp_path / "cache"
    binary = micropython_binary()
    [first] = firmware_path(firmware, DEVICE_DIR, binary, cache=cache)
    app = (first / "panic" / "app.mpy").read_bytes()
    assert firmware_path(firmware, DEVICE_DIR, binary, cache=cache) == [first]  # unchanged: cached
    source = firmware / "panic" / "app.py"
    source.write_text(source.read_text() + "\nCHANGED = 1\n")
    [second] = firmware_path(firmware, DEVICE_DIR, binary, cache=cache)
    assert second != first
    assert (second / "panic" / "app.mpy").read_bytes() != app
    assert (first / "panic" / "app.mpy").read_bytes() == app  # a running simulator's build is left alone


def test_concurrent_builds_agree(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    units = package_units(FIRMWARE) + [module(p, DEVICE_DIR) for p in sorted(DEVICE_DIR.glob("*.py"))]
    results: list[Path] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(cached_build(units, cache, None))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(results) == 4 and len(set(results)) == 1
    assert [p.name for p in cache.iterdir()] == [results[0].name]  # no temporary directories left
    assert set(listed(results[0])) == {u.target for u in units}


def test_old_builds_are_pruned_and_recent_ones_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    firmware = firmware_copy(tmp_path)
    source = firmware / "panic" / "app.py"
    text = source.read_text()
    built = []
    for i in range(3):
        source.write_text(text + f"\nBUILD = {i}\n")
        built.append(cached_build(package_units(firmware), cache, None, keep=2))
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in built[1:])


def test_romfs_build_holds_the_same_bytecode_in_one_image(tmp_path: Path) -> None:
    """--romfs: panic/ becomes romfs.img; mounted by MicroPython (vfs.VfsRom) it holds the plain build's bytes."""
    plain, rom = tmp_path / "plain", tmp_path / "rom"
    build(FIRMWARE, plain)
    assert main(["build", "--out", str(rom), "--romfs"]) == 0
    files = sorted(p.relative_to(rom).as_posix() for p in rom.rglob("*") if p.is_file())
    assert files == sorted(["boot.py", "main.py", "board.json", MANIFEST, ROMFS_FILE])
    entry = {f["path"]: f for f in json.loads((rom / MANIFEST).read_text())["files"]}[ROMFS_FILE]
    image = rom / ROMFS_FILE
    assert entry["romfs"] is True and entry["size"] == image.stat().st_size
    assert entry["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    script = (
        "import os, vfs, hashlib, binascii\n"
        f"f = open({str(image)!r}, 'rb'); rom = f.read(); f.close()\n"
        "vfs.mount(vfs.VfsRom(rom), '/rom')\n"
        "for name in sorted(os.listdir('/rom/panic')):\n"
        "    f = open('/rom/panic/' + name, 'rb')\n"
        "    print(name, binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()); f.close()\n"
    )
    result = subprocess.run([micropython_binary(), "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    in_image = dict(line.split() for line in result.stdout.splitlines())
    assert in_image == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (plain / "panic").iterdir()}
