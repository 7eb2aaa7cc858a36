"""`panic-sim`: run a simulated panic button in the foreground and drive it from the terminal.

    panic-sim run --flash var/button1 --console-pty   # its serial console on a printed /dev/pts/N
    panic-provision register --port /dev/pts/N ...    # provisioned as a unit is (docs/provisioning.md)
    panic-sim run --flash var/button1          # already provisioned
    panic-sim run --flash var/button1 --from-source   # the firmware's .py files, for debugging
    panic-sim run --flash var/button1 --nmea capture.nmea   # its GPS receiver replays a capture
    panic-sim gps-replay capture.nmea          # positions the firmware reads from a GPS capture
    panic-sim modem                            # emulated A7670E / SIM800L modems on ptys (docs/sms.md)

The firmware runs compiled to .mpy, as on a unit (built and cached on first
use, see simulator/compiled.py); ``--from-source`` (or
``PANIC_SIM_FROM_SOURCE=1``) runs its .py sources instead.

The firmware's console log is printed as it comes. Commands on stdin, one
per line: ``press [ms]`` (hold, default 2500), ``pattern <ms>,<ms>,...``
(alternating pressed/released), ``status``, ``help``, ``quit``. With
``--nmea FILE`` the button's virtual GPS receiver sends the capture's
sentences once, paced as at 9600 baud, while it runs.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from simulator import console
from simulator.button import SimulatedButton, SimulatorError
from simulator.gpsreplay import replay
from simulator.modem import cli as modem_cli

GPS_BAUD = 9600  # hardware/board.json's gps UART
HELP = "commands: press [ms] | pattern <ms>,<ms>,... | status | help | quit"


def _capture(text: str) -> list[bytes]:
    try:
        return Path(text).read_bytes().splitlines()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot read the NMEA capture {text}: {e.strerror}") from None


def _replay_gps(button: SimulatedButton, lines: list[bytes]) -> None:
    try:
        sent = button.feed_nmea(lines, baud=GPS_BAUD)
        print(f"# gps: capture replayed sentences={sent}", flush=True)
    except SimulatorError as e:  # the button stopped meanwhile
        print(f"# gps: replay stopped: {e}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panic-sim", description="Run the panic-button firmware on this PC.")
    sub = parser.add_subparsers(dest="command", required=True)
    # No provisioning flags: a key on a command line shows in `ps` and the shell history. A blank
    # flash dir starts unprovisioned, and `panic-provision` provisions it over --console-pty.
    p = sub.add_parser("run", help="run a button in the foreground")
    p.add_argument("--flash", type=Path, required=True, help="the device's flash directory")
    p.add_argument("--heapsize", help="MicroPython heap (default 110K, as on the ESP32; 192K with --from-source)")
    p.add_argument("--log", type=Path, help="also append the console log to this file")
    p.add_argument("--console-pty", action="store_true",
                   help="expose the button's serial console on a pseudo-terminal (its path is printed: "
                        "panic-provision --port PATH works on it)")
    p.add_argument("--nmea", type=_capture, metavar="FILE",
                   help="replay this GPS capture (NMEA lines, # comments ignored) into the running button")
    p.add_argument("--from-source", action="store_true",
                   help="run the firmware's .py files, not the compiled .mpy (for debugging; "
                        "also PANIC_SIM_FROM_SOURCE=1)")
    modem_cli.add_parser(sub)
    p = sub.add_parser("gps-replay", help="replay a GPS receiver capture (NMEA lines) through the firmware's GPS code")
    p.add_argument("file", type=Path, help="NMEA sentences, one a line; # comments ignored; - for standard input "
                                           "(a file, a pipe or a serial port: a receiver's live output)")
    p.add_argument("--heapsize", default="110K", help="MicroPython heap (default 110K, as on the ESP32)")
    return parser


def _status(button: SimulatedButton) -> str:
    return (f"indicator={button.indicator or '-'} led={int(button.led)} outbox={len(button.outbox())} "
            f"memory={button.memory() or '-'}")


def _command(button: SimulatedButton, line: str) -> bool:
    """Run one stdin command; False means quit."""

    def handle(cmd: str, rest: list[str]) -> bool:
        if cmd == "press":
            button.press(int(rest[0]) if rest else 2500)
        elif cmd == "pattern" and len(rest) == 1:
            button.pattern([int(x) for x in rest[0].split(",")])
        elif cmd == "status":
            print(f"# {_status(button)}", flush=True)
        else:
            return False
        return True

    return console.command(line, handle, HELP, (ValueError, SimulatorError))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "gps-replay":
        return replay(args.file, heapsize=args.heapsize)
    if args.command == "modem":
        return modem_cli.run(args)
    if not (args.flash / "config.json").exists():
        print(f"# {args.flash} is not provisioned: the firmware shows 'fault' until panic-provision "
              "provisions it over the console (--console-pty)", file=sys.stderr)
        SimulatedButton.blank(args.flash)
    button = SimulatedButton(args.flash, heapsize=args.heapsize, log_file=args.log, echo=sys.stdout,
                             from_source=True if args.from_source else None, console_pty=args.console_pty)
    try:
        button.start()
    except SimulatorError as e:
        print(f"# {e}", file=sys.stderr)
        return 1
    if button.console_path:
        print(f"# console: {button.console_path}", flush=True)
    print(f"# {HELP}", flush=True)
    if args.nmea:
        threading.Thread(target=_replay_gps, args=(button, args.nmea), daemon=True).start()
    try:
        for line in sys.stdin:
            if not _command(button, line) or not button.running:
                break
    except KeyboardInterrupt:
        pass
    finally:
        button.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
