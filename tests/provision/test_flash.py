"""`panic-provision flash`: the esptool runs (held here, verified on hardware only) and the copy of the deploy
folder through the raw REPL, against the MicroPython unix port on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from provision import build
from provision.rawrepl import RawRepl, copy_deploy
from provision.tool import esptool_commands, romfs_command
from simulator.button import micropython_binary
from tests.provision.conftest import provision_tool


def test_esptool_erases_then_writes_the_image_at_the_chips_offset(tmp_path: Path) -> None:
    image = tmp_path / "ESP32_GENERIC-v1.24.bin"
    erase, write = esptool_commands("/dev/ttyUSB0", image, "esp32")
    assert erase == [sys.executable, "-m", "esptool", "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800",
                     "erase-flash"]
    assert write[-4:] == ["write-flash", "-z", "0x1000", str(image)]
    assert esptool_commands("/dev/ttyACM0", image, "esp32s3")[1][-2] == "0x0"


def test_the_installed_esptool_accepts_exactly_these_arguments(tmp_path: Path) -> None:
    """esptool parses each command and gets as far as opening the port (no chip here: that is where it stops)."""
    image = tmp_path / "image.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    for cmd in esptool_commands(str(tmp_path / "ttyUSB-absent"), image, "esp32"):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        text = result.stdout + result.stderr
        assert "No such option" not in text and "Usage" not in text, text
        assert "Could not open" in text and "ttyUSB-absent" in text, text


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fw") / "deploy"
    assert build.main(["build", "--out", str(out)]) == 0
    return out


def _relay(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two pty masters: a USB-serial cable between the tool and the board."""
    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.1)
        for src in ready:
            try:
                data = os.read(src, 4096)
            except OSError:
                return
            os.write(b if src == a else a, data)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The unix port's REPL on a pty (a board's USB-serial port); its working directory is the board's flash."""
    fs = tmp_path / "board-fs"
    fs.mkdir()
    repl_master, repl_slave = pty.openpty()
    tool_master, tool_slave = pty.openpty()
    tty.setraw(tool_slave)
    tty.setraw(repl_slave)  # a UART does not turn \n into \r\n
    process = subprocess.Popen([micropython_binary()], stdin=repl_slave, stdout=repl_slave, stderr=repl_slave,
                               cwd=fs, close_fds=True)
    stop = threading.Event()
    relay = threading.Thread(target=_relay, args=(repl_master, tool_master, stop), daemon=True)
    relay.start()
    yield os.ttyname(tool_slave), fs
    stop.set()
    relay.join()
    process.kill()
    process.wait()
    for fd in (repl_master, repl_slave, tool_master, tool_slave):
        os.close(fd)


def test_copy_puts_every_file_on_the_board_and_checks_it(deploy: Path, board: tuple[str, Path]) -> None:
    port, fs = board
    run = provision_tool("--lang", "en", "flash", "--port", port, "--deploy", str(deploy))
    assert run.code == 0, run.out + run.err
    manifest = json.loads((deploy / "manifest.json").read_text())
    for f in manifest["files"]:
        assert (fs / f["path"]).read_bytes() == (deploy / f["path"]).read_bytes(), f["path"]
    assert not list(fs.rglob("*.tmp"))
    assert f"[{len(manifest['files']) + 1}/{len(manifest['files']) + 1}] manifest.json" in run.out


def test_a_file_that_does_not_match_the_manifest_is_reported(deploy: Path, board: tuple[str, Path],
                                                              tmp_path: Path) -> None:
    port, _ = board
    bad = tmp_path / "bad-deploy"
    subprocess.run(["cp", "-r", str(deploy), str(bad)], check=True)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    (bad / "manifest.json").write_text(json.dumps(manifest))
    run = provision_tool("--lang", "en", "flash", "--port", port, "--deploy", str(bad))
    assert run.code == 2
    assert f"{manifest['files'][0]['path']}: the board holds sha256" in run.err and "copy again" in run.err


def test_the_installed_mpremote_accepts_the_romfs_deploy_arguments(tmp_path: Path) -> None:
    """mpremote parses the run `flash` makes for a ROMFS image and gets as far as opening the port."""
    image = tmp_path / "romfs.img"
    image.write_bytes(b"\xd2\xcd\x31" + bytes(13))
    cmd = romfs_command(str(tmp_path / "ttyUSB-absent"), image)
    assert cmd[-4:] == ["connect", str(tmp_path / "ttyUSB-absent"), "romfs", "deploy", str(image)][-4:]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "usage" not in text.lower(), text
    assert "failed to access" in text and "ttyUSB-absent" in text, text



@pytest.fixture(scope="module")
def romfs_deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("romfw") / "deploy"
    assert build.main(["build", "--out", str(out), "--romfs"]) == 0
    return out


def test_a_romfs_deploy_copies_the_rest_and_removes_an_old_panic_folder(
    romfs_deploy: Path, board: tuple[str, Path]
) -> None:
    """The image goes to its partition (mpremote), not the filesystem; a panic/ left by an .mpy install would come
    first on sys.path ('' before /rom) and run instead of it, so it is removed, subfolders and all."""
    port, fs = board
    (fs / "panic" / "old").mkdir(parents=True)
    (fs / "panic" / "app.mpy").write_bytes(b"an earlier install")
    (fs / "panic" / "old" / "x.mpy").write_bytes(b"x")
    with serial.Serial(port, 115200, timeout=0.5, exclusive=True) as line:
        repl = RawRepl(line)
        repl.enter()
        try:
            copied = copy_deploy(repl, romfs_deploy)
        finally:
            repl.leave()
    assert sorted(p.name for p in fs.iterdir()) == ["board.json", "boot.py", "main.py", "manifest.json"]
    assert copied == 4


def test_flash_refuses_what_is_not_a_deploy_folder_before_writing_anything(tmp_path: Path, romfs_deploy: Path) -> None:
    absent = str(tmp_path / "ttyUSB-absent")  # never opened: the folder is checked first
    run = provision_tool("--lang", "en", "flash", "--port", absent, "--deploy", str(tmp_path))
    assert run.code == 2 and "not a deploy folder from panic-fw build" in run.err, run.out + run.err
    tampered = tmp_path / "tampered"
    shutil.copytree(romfs_deploy, tampered)
    (tampered / "romfs.img").write_bytes(b"\xd2\xcd\x31" + bytes(61))
    run = provision_tool("--lang", "en", "flash", "--port", absent, "--deploy", str(tampered))
    assert run.code == 2 and "not the image the manifest lists" in run.err, run.out + run.err
    future = tmp_path / "future"
    shutil.copytree(romfs_deploy, future)
    manifest = json.loads((future / "manifest.json").read_text())
    (future / "manifest.json").write_text(json.dumps({**manifest, "format": 9}))
    run = provision_tool("--lang", "en", "flash", "--port", absent, "--deploy", str(future))
    assert run.code == 2 and "manifest format 9" in run.err, run.out + run.err
