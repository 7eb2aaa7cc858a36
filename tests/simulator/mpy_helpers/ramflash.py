"""A LittleFS flash in RAM, for firmware tests under MicroPython.

The ESP32's filesystem is LittleFS (v2); mounting the same filesystem on a
small RAM block device lets tests fill it up (ENOSPC) and check atomic
renames on the real implementation rather than on the host's filesystem.

    import ramflash
    ramflash.mount(blocks=24)   # mounts at /flash and chdir()s there
"""

import os

import vfs


class RAMBlockDevice:
    def __init__(self, block_size: int, blocks: int) -> None:
        self.block_size = block_size
        self.data = bytearray(block_size * blocks)

    def readblocks(self, n: int, buf: bytearray, offset: int = 0) -> None:
        a = n * self.block_size + offset
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, n: int, buf: bytearray, offset: int | None = None) -> None:
        a = n * self.block_size + (offset or 0)
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op: int, arg: int) -> int | None:
        if op == 4:  # block count
            return len(self.data) // self.block_size
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase: nothing to do in RAM
            return 0
        return None


def mount(blocks: int = 24, block_size: int = 256, where: str = "/flash") -> RAMBlockDevice:
    dev = RAMBlockDevice(block_size, blocks)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), where)
    os.chdir(where)
    return dev
