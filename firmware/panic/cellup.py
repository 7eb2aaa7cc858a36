"""The cellular bearer's bring-up (panic.cellular): power, AT sync, SIM PIN, registration, signal, APN, dial, PPP.

Loaded by panic.cellular for each attempt and unloaded after it, so its code is
on the heap only while the modem is being brought up (no MQTT session then).
``dial(cell, slot, power)`` returns "" when the data session is up, else the
reason it is not (the words panic.cellular's docstring lists); AtError or
OSError(ETIMEDOUT) from a command go to the caller. Each wait reports to the
supervisor (``slot``), and every command has its own timeout.

AT commands are bytes: short str literals would be interned names for good.
"""

import asyncio

from micropython import const

from panic import log
from panic.modem import NO_CARRIER, REBOOTED, AtError

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.cellular import Cell

_SYNC_MS = const(3000)
_REG_MS = const(180000)  # registration: a cold LTE attach can take minutes (A7670 manual)
_CMD_MS = const(5000)
_DIAL_MS = const(30000)
_PPP_MS = const(30000)
_STEP_MS = const(100)


def dbm(lines: list) -> int | None:
    """dBm from +CSQ's answer (27.007: rssi 0..31 -> -113..-51 dBm, 99 unknown); None if unknown or garbled."""
    for line in lines:
        if line.startswith("+CSQ:"):
            try:
                n = int(line[5:].split(",")[0])
            except ValueError:
                return None
            return -113 + 2 * n if 0 <= n <= 31 else None
    return None


def stat(lines: list, q: bytes) -> int:
    """<stat> of a +CREG?/+CGREG?/+CEREG? answer ("+CEREG: <n>,<stat>[,...]"); -1 when garbled."""
    head = q.decode() + ":"
    for line in lines:
        if line.startswith(head):
            try:
                return int(line[len(head):].split(",")[1])
            except (ValueError, IndexError):
                return -1
    return -1


async def dial(cell: Cell, slot: int, power: bool) -> str:
    m = cell.modem
    sup = cell.sup
    hw = cell.hw
    settings = cell.settings
    if power or not await m.sync(_SYNC_MS):
        log.info("cell", "power model=%s" % m.model)
        await m.power(hw.modem_pwrkey, hw.modem_reset)
        sup.alive(slot)
        if not await m.sync(m.spec[1]):
            return "no_answer"
    sup.alive(slot)
    # SIM
    try:
        lines = await m.cmd(b"AT+CPIN?", _CMD_MS)
    except AtError as e:
        if e.code == REBOOTED:
            raise
        return "sim_missing" if e.code == 10 else "sim_error"
    state = lines[0] if lines else ""
    if "SIM PIN" in state:
        pin = settings.get("sim_pin")
        if not pin:
            return "pin_needed"
        if cell.failed:
            return "pin_wrong"
        try:
            await m.cmd("AT+CPIN=" + pin, _CMD_MS)  # the PIN is never logged
        except AtError as e:
            if e.code == 16:  # incorrect password: never sent again (3 wrong PINs lock the SIM)
                cell.failed = True
                return "pin_wrong"
            raise
    elif "READY" not in state:
        log.warn("cell", "sim state=%s" % log.q(state))
        return "sim_error"
    sup.alive(slot)
    # Registration: each of the model's queries, with its URC on (a loss is seen at once)
    queries = m.spec[3]
    for q in queries:
        try:
            await m.cmd(b"AT" + q + b"=1", _CMD_MS)
        except AtError:
            pass  # polled below anyway
    log.info("cell", "registering model=%s" % m.model)
    waited = 0
    step = 1000
    found = -1
    while found != 1 and found != 5:
        for q in queries:
            try:
                found = stat(await m.cmd(b"AT" + q + b"?", _CMD_MS), q)
            except AtError:
                found = -1
            if found == 1 or found == 5:
                break
            if found == 3:
                return "registration_denied"
        else:
            if waited >= _REG_MS:
                return "registration_timeout"
            await cell._wait(slot, step)
            waited += step
            step = min(step * 2, 8000)
    m.reg = -1  # URCs from here on
    cell.level = dbm(await m.cmd(b"AT+CSQ", _CMD_MS))
    log.info("cell", "registered stat=%d rssi=%s" % (found, cell.level))
    await m.cmd('AT+CGDCONT=1,"IP","%s"' % settings["apn"], _CMD_MS)  # apn checked by panic.config
    sup.alive(slot)
    try:
        await m.cmd(b"ATD*99#", _DIAL_MS)
    except AtError as e:
        return "ppp_refused" if e.code == NO_CARRIER else "dial_error"
    sup.alive(slot)
    ppp = hw.ppp(cell.uart)
    if ppp is None:
        log.info("cell", "connect: no PPP on this port, sockets use the host network")
        return ""
    m.hold = True  # PPP reads the UART from now on
    cell.ppp = ppp
    user = settings.get("apn_user")
    if user:
        ppp.connect(security=ppp.SEC_PAP, user=user, key=settings.get("apn_password") or "")
    else:
        ppp.connect()
    waited = 0
    while not ppp.isconnected():
        if waited >= _PPP_MS:
            return "ppp_timeout"
        sup.alive(slot)
        await asyncio.sleep_ms(_STEP_MS)
        waited += _STEP_MS
    return ""
