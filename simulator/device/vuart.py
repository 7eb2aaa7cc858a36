"""A virtual UART for the simulator (MicroPython): what the host writes waits to be read.

Same interface as the ESP32's ``machine.UART`` opened with ``timeout=0``, as
far as panic.gps uses it: ``readinto(buf)`` returns at once, with the number
of bytes copied or None when nothing waits.
"""


class VirtualUart:
    def __init__(self) -> None:
        self._data = b""
        self._pos = 0

    def write(self, data: bytes) -> None:
        """Bytes from the device on the other end (a GPS receiver)."""
        self._data = self._data[self._pos:] + data
        self._pos = 0

    def readinto(self, buf: bytearray) -> int | None:
        n = min(len(buf), len(self._data) - self._pos)
        if n <= 0:
            return None
        buf[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n

    def waiting(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos
