"""A MicroPython stand-in for machine.UART(timeout=0) on a pseudo-terminal (an emulated modem's pty).

Prepended to scripts run under the unix port: ``PtyUart(path)`` has the two
methods panic.modem uses, ``readinto`` (at once, None when nothing waits) and
``write``. The unix port's file objects block until a read is full, so it
reads byte by byte while poll() says more waits.
"""

PTY_UART = '''
import select
class PtyUart:
    def __init__(self, path):
        self.f = open(path, "r+b")
        self.p = select.poll()
        self.p.register(self.f, select.POLLIN)
        self.one = bytearray(1)
    def readinto(self, buf):
        n = 0
        while n < len(buf) and self.p.poll(0):
            self.f.readinto(self.one)
            buf[n] = self.one[0]
            n += 1
        return n or None
    def write(self, data):
        return self.f.write(data.encode() if isinstance(data, str) else data)
'''
