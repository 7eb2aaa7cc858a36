"""`panic-sim`: run a simulated panic button in the foreground and drive it from the terminal.

    panic-sim run --flash var/button1 --console-pty   # its serial console on a printed /dev/pts/N
    panic-provision register --port /dev/pts/N ...    # provisioned as a unit is (docs/provisioning.md)
    panic-sim run --flash var/button1          # already provisioned
    panic-sim run --flash var/button1 --from-source   # the firmware's .py files, for debugging
    panic-sim run --flash var/button1 --nmea capture.nmea   # its GPS receiver replays a capture
    panic-sim gps-replay capture.nmea          # positions the firmware reads from a GPS capture
    panic-sim run --flash var/button1 --modem A7670E --no-wifi   # cellular data through an emulated modem
    panic-sim modem                            # emulated A7670E / SIM800L modems on ptys (docs/sms.md)

The firmware runs compiled to .mpy, as on a unit (built and cached on first
use, see simulator/compiled.py); ``--from-source`` (or
``PANIC_SIM_FROM_SOURCE=1``) runs its .py sources instead.

The firmware's console log is printed as it comes. Commands on stdin, one
per line: ``press [ms]`` (hold, default 2500), ``pattern <ms>,<ms>,...``
(alternating pressed/released), ``status``, ``help``, ``quit``. With
``--nmea FILE`` the button's virtual GPS receiver sends the capture's
sentences once, paced as at 9600 baud, while it runs.

With ``--modem A7670E|SIM800L`` the button has a cellular modem, emulated
(simulator/modem/) and bridged to its modem UART (docs/firmware.md, "Cellular
link"; the flash's config.json needs an ``apn``); ``--no-wifi`` starts it
with Wi-Fi down, ``--no-gps`` without a GPS receiver. A button with a modem runs its
firmware from a ROMFS image beside the heap, as such a unit ships (docs/firmware.md,
"ROMFS"). Then also on stdin: ``wifi on|off``,
``data off|on`` (off: the network refuses data and drops the session, so only
SMS remains), ``reg home|roaming|searching|denied|off``, ``reboot-modem``.
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
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.modem.variants import VARIANTS

GPS_BAUD = 9600  # hardware/board.json's gps UART
HELP = "commands: press [ms] | pattern <ms>,<ms>,... | status | help | quit"
CELL_HELP = " | wifi on|off | data off|on | reg home|roaming|searching|denied|off | reboot-modem"
BUTTON_NUMBER = "+6281200000002"  # the emulated modem's number (panic-sim modem's default button)


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
    p.add_argument("--modem", choices=sorted(VARIANTS),
                   help="give the button a cellular modem of this model, emulated (its config needs an apn)")
    p.add_argument("--no-wifi", action="store_true", help="with --modem: Wi-Fi down at start (wifi on|off later)")
    p.add_argument("--no-gps", action="store_true", help="with --modem: a board without a GPS receiver")
    modem_cli.add_parser(sub)
    p = sub.add_parser("gps-replay", help="replay a GPS receiver capture (NMEA lines) through the firmware's GPS code")
    p.add_argument("file", type=Path, help="NMEA sentences, one a line; # comments ignored; - for standard input "
                                           "(a file, a pipe or a serial port: a receiver's live output)")
    p.add_argument("--heapsize", default="110K", help="MicroPython heap (default 110K, as on the ESP32)")
    return parser


def _status(button: SimulatedButton) -> str:
    return (f"indicator={button.indicator or '-'} led={int(button.led)} outbox={len(button.outbox())} "
            f"memory={button.memory() or '-'}")


def _cellular(button: SimulatedButton, cmd: str, rest: list[str]) -> bool:
    """A cellular button's commands (--modem); False when `cmd` is not one."""
    modem = button.modem
    if modem is None:
        return False
    if cmd == "wifi" and rest in (["on"], ["off"]):
        button.wifi(rest[0] == "on")
    elif cmd == "data" and rest in (["on"], ["off"]):
        modem.network.refuse_data = rest[0] == "off"
        if rest[0] == "off":
            modem.drop_data()
    elif cmd == "reg" and len(rest) == 1 and rest[0] in ("home", "roaming", "searching", "denied", "off"):
        modem.set_registration(rest[0])
    elif cmd == "reboot-modem" and not rest:
        modem.reboot()
    else:
        return False
    return True


def _command(button: SimulatedButton, line: str) -> bool:
    """Run one stdin command; False means quit."""

    def handle(cmd: str, rest: list[str]) -> bool:
        if _cellular(button, cmd, rest):
            return True
        if cmd == "press":
            button.press(int(rest[0]) if rest else 2500)
        elif cmd == "pattern" and len(rest) == 1:
            button.pattern([int(x) for x in rest[0].split(",")])
        elif cmd == "status":
            print(f"# {_status(button)}", flush=True)
        else:
            return False
        return True

    return console.command(line, handle, HELP + (CELL_HELP if button.modem else ""), (ValueError, SimulatorError))


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
    modem = None
    if args.modem:
        modem = EmulatedModem(Network(), BUTTON_NUMBER, args.modem).start()
        print(f"# modem: emulated {args.modem} {BUTTON_NUMBER} on {modem.path}; PPP is not emulated: after "
              "CONNECT the button's sockets use this host's network", flush=True)
    button = SimulatedButton(args.flash, heapsize=args.heapsize, log_file=args.log, echo=sys.stdout,
                             from_source=True if args.from_source else None, console_pty=args.console_pty,
                             modem=modem, wifi=not args.no_wifi, gps=not args.no_gps)
    try:
        button.start()
    except SimulatorError as e:
        print(f"# {e}", file=sys.stderr)
        return 1
    if button.console_path:
        print(f"# console: {button.console_path}", flush=True)
    print(f"# {HELP}{CELL_HELP if modem else ''}", flush=True)
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
        if modem is not None:
            modem.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
