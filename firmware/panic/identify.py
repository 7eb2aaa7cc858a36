"""The ``identify`` command's blinking (panic/command.py): a module of its own, so that the
command module is unloaded as soon as the command is handled and only this small one stays
loaded while the indicator blinks."""

import asyncio

from panic import indicator, log

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.app import App

_IDENTIFY_MS = const(10000)
_BEEP_MS = const(100)


async def identify(app: App) -> None:
    ind, buzzer = app.ind, app.hw.buzzer
    if ind is None or ind.state == indicator.SENDING:
        log.info("cmd", "identify not shown: an alert is being sent")  # what the button shows comes first
        return
    ind.set(indicator.IDENTIFY, "cmd")
    beep = buzzer is not None and not ind.silent
    waited = 0
    while waited < _IDENTIFY_MS and ind.state == indicator.IDENTIFY:
        if beep:
            buzzer.set(waited % 1000 == 0)  # type: ignore[union-attr]
        await asyncio.sleep_ms(_BEEP_MS)
        waited += _BEEP_MS
    if buzzer is not None and beep:
        buzzer.set(False)
    app._refresh("identify_done")
