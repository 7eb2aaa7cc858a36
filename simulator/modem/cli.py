"""`panic-sim modem`: emulated modems on ptys, standalone, driven from stdin (docs/sms.md).

    panic-sim modem                                   # gateway +6281100000001 (SIM800L), button +6281200000002 (A7670E)
    panic-sim modem --modem +6281100000001:SIM800L --modem +6281200000002:A7670E --sim +6281200000002=pin

Each modem's pty path is printed; point PANIC_SMS_PORT (or a serial
terminal: `picocom /dev/pts/N`) at it. Commands on stdin, one per line:
`sms FROM TO TEXT...` (an SMS from any number, emulated or not),
`ucs2 FROM TO TEXT...`, `lose [N]`, `data on|off`, `reg NUMBER home|roaming|searching|denied|off`,
`reboot NUMBER`, `list`, `help`, `quit`.
"""

from __future__ import annotations

import argparse
import sys

from simulator import console
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.modem.variants import VARIANTS

HELP = ("commands: sms FROM TO TEXT | ucs2 FROM TO TEXT | lose [N] | data on|off | "
        "reg NUMBER home|roaming|searching|denied|off | reboot NUMBER | list | help | quit")
DEFAULT = ["+6281100000001:SIM800L", "+6281200000002:A7670E"]


def _modem(text: str) -> tuple[str, str]:
    number, _, variant = text.partition(":")
    variant = variant or "A7670E"
    if variant not in VARIANTS or not number.lstrip("+").isdigit():
        raise argparse.ArgumentTypeError(f"expected NUMBER[:{'|'.join(VARIANTS)}], got {text!r}")
    return number, variant


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("modem", help="run emulated modems on ptys with an SMS network between them")
    p.add_argument("--modem", type=_modem, action="append", metavar="NUMBER[:VARIANT]",
                   help=f"a modem (repeatable); variants: {', '.join(VARIANTS)}; default: {' '.join(DEFAULT)}")
    p.add_argument("--sim", action="append", default=[], metavar="NUMBER=ready|pin|missing",
                   help="the SIM state of one modem (pin: locked until AT+CPIN=1234)")


def _command(network: Network, line: str) -> bool:
    """Run one stdin command; False means quit."""

    def handle(cmd: str, rest: list[str]) -> bool:
        if cmd in ("sms", "ucs2") and len(rest) >= 3:
            network.inject(rest[0], rest[1], " ".join(rest[2:]), alphabet="gsm7" if cmd == "sms" else "ucs2")
        elif cmd == "lose":
            network.lose_sms(int(rest[0]) if rest else 1)
        elif cmd == "data" and rest in (["on"], ["off"]):
            network.refuse_data = rest == ["off"]
        elif cmd == "reg" and len(rest) == 2:
            network.modems[rest[0]].set_registration(rest[1])
        elif cmd == "reboot" and len(rest) == 1:
            network.modems[rest[0]].reboot()
        elif cmd == "list":
            for number, modem in network.modems.items():
                print(f"# {number} {modem.variant.model} {modem.path} registration={modem.registration} "
                      f"sim_sms={len(modem.slots)}", flush=True)
        else:
            return False
        return True

    return console.command(line, handle, HELP, (KeyError, ValueError))


def run(args: argparse.Namespace) -> int:
    network = Network()
    sims = dict(s.partition("=")[::2] for s in args.sim)
    modems = [EmulatedModem(network, number, variant, sim=sims.get(number, "ready")).start()
              for number, variant in (args.modem or [_modem(m) for m in DEFAULT])]
    for modem in modems:
        print(f"modem {modem.number} {modem.variant.model} on {modem.path}", flush=True)
    print(f"# {HELP}", flush=True)
    try:
        for line in sys.stdin:
            if not _command(network, line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        for modem in modems:
            modem.close()
    return 0
