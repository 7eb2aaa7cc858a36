"""An emulated cellular modem on a pseudo-terminal, and the tiny network between emulated modems (docs/sms.md).

    variants.py  what differs between the modems the board supports (A7670E, SIM800L): data only
    network.py   the "operator": registration, data sessions, SMS between numbers, faults
    emulator.py  one modem: the AT dialogue over a pty, as the ESP32's UART or the gateway's
                 pyserial port sees it
    cli.py       `panic-sim modem`: run modems standalone
"""
