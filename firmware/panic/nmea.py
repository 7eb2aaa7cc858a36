"""NMEA 0183 from the GPS receiver to an exact fix, allocating nothing per byte or sentence.

Bytes go in through ``feed``; a sentence is taken only if it starts with
``$``, holds printable ASCII only, fits in ``_LINE_MAX`` bytes, ends in
``*hh`` and that checksum (XOR of everything between ``$`` and ``*``)
matches. Anything else — garbage, a truncated sentence (a new ``$`` before
the line ended), binary noise from a receiver at the wrong baud — is
counted in ``rejected`` and dropped whole. Talkers GP GN GL GA BD GB GI GQ
are read alike; others and proprietary sentences are ignored.

**Cycles.** A receiver reports each epoch as a burst of sentences sharing
one UTC time. They are gathered into a cycle that ends when a sentence with
another time arrives, when a kind repeats (a receiver whose clock is stuck),
or when the caller says the receiver went quiet (``end_cycle``). A cycle
gives a fix only if some sentence in it carries a valid position and none
says there is no fix:

- RMC status ``A`` (and, NMEA 2.3+, mode not ``N``);
- GGA quality 1-6 (7 manual input and 8 simulation are not measurements,
  0 is no fix) with a satellite count that is not 0;
- GNS with a mode letter other than ``N`` (``M`` manual and ``S`` simulator
  do not count either) and a satellite count that is not 0;
- GLL status ``A`` (and mode, when present, not ``N``).

A position of exactly 0, 0 is no fix (the "null island" some receivers
print with a valid status while still searching).

**Exact coordinates.** ``ddmm.mmmm…`` is converted to integer 1e-7 degrees
by long division of the minutes by 60, digit by digit, in small integers:
no float anywhere (the ESP32's are single precision, ~1 m at these
magnitudes). Minutes digits past the 7th decimal cannot change the result
except through rounding, which is to nearest, halves away from zero
(applied to the magnitude; the sign comes from N/S, E/W).

**What a fix holds** (after ``end_cycle`` committed it): ``lat``, ``lon``
(1e-7 degrees), ``dim`` (2 or 3: from GSA's mode, else 3 when GGA/GNS gave
an altitude, else 2), ``sats`` (GGA/GNS, else the PRNs listed in the
cycle's GSAs; -1 unknown) and ``hdop`` (hundredths, from GGA/GNS, else GSA;
-1 unknown), ``utc`` (the cycle's time of day as hhmmss and hundredths). ``fixes`` counts committed fixes and ``valid`` tells whether
the latest closed cycle had one. The previous fix stays readable after a
cycle without one.
"""

from micropython import const

# Constants (const, "_" names): compiled into the bytecode, no global, no interned name.
_LINE_MAX = const(120)  # NMEA allows 82; receivers with 8-decimal minutes send ~100
_FIELDS_MAX = const(24)

# Sentence kinds carrying a time, as bits: a cycle remembers which it has seen.
_RMC = const(1)
_GGA = const(2)
_GLL = const(4)
_GNS = const(8)

# Talkers and sentence kinds as big-endian integers of their letters (e.g. "GP" = 0x4750).
_TALKERS = const((0x4750, 0x474E, 0x474C, 0x4741, 0x4244, 0x4742, 0x4749, 0x4751))  # GP GN GL GA BD GB GI GQ
_K_RMC = const(0x524D43)
_K_GGA = const(0x474741)
_K_GLL = const(0x474C4C)
_K_GNS = const(0x474E53)
_K_GSA = const(0x475341)

# Slots of Nmea._c: the cycle being gathered (reset by end_cycle up to _DEG), then
# _coord's result and the field count of the current sentence.
_TIME = const(0)  # the cycle's UTC time of day, hhmmssxx; -1 unknown
_KINDS = const(1)  # _RMC | _GGA | ... seen in the cycle
_HAS = const(2)  # a valid position was seen
_VETO = const(3)  # a sentence said there is no fix
_LAT_D = const(4)
_LAT_F = const(5)
_LON_D = const(6)
_LON_F = const(7)
_SATS = const(8)
_HDOP = const(9)
_ALT = const(10)  # GGA/GNS gave an altitude
_GSA_DIM = const(11)
_GSA_SATS = const(12)
_GSA_HDOP = const(13)
_DEG = const(14)
_FRAC = const(15)
_NF = const(16)
_SLOTS = const(17)


def _hex(b: int) -> int:
    if 48 <= b <= 57:
        return b - 48
    if 65 <= b <= 70:
        return b - 55
    if 97 <= b <= 102:
        return b - 87
    return -1


class Nmea:
    def __init__(self) -> None:
        self._line = bytearray(_LINE_MAX)
        self._len = -1  # bytes of the sentence so far; -1 while waiting for '$'
        self._at = bytearray(_FIELDS_MAX + 1)  # where each field starts; the last entry ends the last field
        self.sentences = 0  # checksum-verified sentences from a known talker
        self.rejected = 0  # lines dropped: bad or missing checksum, truncated, too long, binary, bad field
        # The last fix (see the module docstring).
        self.fixes = 0
        self.valid = False
        self.lat = 0
        self.lon = 0
        self.dim = 0
        self.sats = -1
        self.hdop = -1
        self.utc = -1  # the fix's UTC time of day, hhmmssxx (hundredths), -1 unknown
        # The cycle's state, _coord's result and the field count: one list indexed by the
        # constants below rather than 17 attributes (each attribute name is an interned qstr
        # and an entry in the instance's dict; docs/firmware.md, "Heap and qstrs").
        self._c = [0] * _SLOTS
        self.end_cycle()  # no sentence yet: this only starts the first cycle

    # -- bytes to sentences -------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview, n: int) -> None:
        """Take the first n bytes of data, as they came from the UART."""
        line = self._line
        for i in range(n):
            b = data[i]
            if b == 36:  # '$' starts a sentence; an unfinished one before it was truncated
                if self._len > 0:
                    self.rejected += 1
                line[0] = b
                self._len = 1
            elif self._len < 0:
                continue  # between sentences: noise, or a line we already dropped
            elif b == 13 or b == 10:
                self._sentence(self._len)
                self._len = -1
            elif b < 32 or b > 126 or self._len >= _LINE_MAX:
                self.rejected += 1  # binary noise (wrong baud) or a line that never ends
                self._len = -1
            else:
                line[self._len] = b
                self._len += 1

    def _sentence(self, n: int) -> None:
        line = self._line
        star = n - 3
        if n < 10 or line[star] != 42:
            self.rejected += 1
            return
        hi = _hex(line[n - 2])
        lo = _hex(line[n - 1])
        x = 0
        for i in range(1, star):
            x ^= line[i]
        if hi < 0 or lo < 0 or x != hi << 4 | lo:
            self.rejected += 1
            return
        at = self._at
        at[0] = 1
        nf = 0
        for i in range(1, star):
            if line[i] == 44:  # ','
                nf += 1
                if nf >= _FIELDS_MAX:
                    self.rejected += 1
                    return
                at[nf] = i + 1
        nf += 1
        at[nf] = star + 1
        self._c[_NF] = nf
        if at[1] != 7 or (line[1] << 8 | line[2]) not in _TALKERS:
            return  # proprietary ($PUBX...) or another talker: not ours
        self.sentences += 1
        kind = line[3] << 16 | line[4] << 8 | line[5]
        # One function for every kind (a function costs ~150 B of heap once loaded; see
        # docs/firmware.md, "Heap and qstrs"). `ok` False: a field was malformed.
        ok = True
        c = self._c
        # Sentences with a time first join the cycle of that time (or end the one before).
        bit = _RMC if kind == _K_RMC else _GGA if kind == _K_GGA else _GNS if kind == _K_GNS else \
            _GLL if kind == _K_GLL else 0
        if bit:
            t = self._dec(5 if bit == _GLL else 1, 2)  # the time field
            if c[_KINDS] and (t != c[_TIME] or c[_KINDS] & bit):
                self.end_cycle()
            c[_TIME] = t
            c[_KINDS] |= bit
        if kind == _K_RMC:
            # $--RMC,time,status,lat,N,lon,E,speed,course,date,magvar,E[,mode[,navstatus]]
            if self._char(2) == 65 and self._char(12) != 78:  # status A, mode not N
                ok = self._position(3)
            else:
                c[_VETO] = 1
        elif kind == _K_GGA or kind == _K_GNS:
            # $--GGA,time,lat,N,lon,E,quality,sats,hdop,alt,M,sep,M,age,station
            # $--GNS,time,lat,N,lon,E,mode(one letter per system),sats,hdop,alt,sep,age,station[,navstatus]
            valid = False
            if kind == _K_GGA:
                quality = self._dec(6, 0)
                valid = 1 <= quality <= 6  # 0 no fix; 7 manual input and 8 simulation are not measurements
            elif not self._empty(6):
                for k in range(self._at[6], self._at[7] - 1):
                    if line[k] in b"ADPRFE":  # autonomous, differential, precise, RTK, float RTK, estimated
                        valid = True
            sats = self._dec(7, 0)
            hdop = self._dec(8, 2)
            if not valid or sats == 0:
                c[_VETO] = 1  # the sentence says there is no fix
            else:
                if sats > 0:
                    c[_SATS] = sats
                if hdop > 0:
                    c[_HDOP] = hdop
                if not self._empty(9):
                    c[_ALT] = 1
                ok = self._position(2)
        elif kind == _K_GLL:
            # $--GLL,lat,N,lon,E,time,status[,mode]
            if self._char(6) == 65 and self._char(7) != 78:
                ok = self._position(1)
            else:
                c[_VETO] = 1
        elif kind == _K_GSA:
            # $--GSA,selection,mode(1 none, 2 2D, 3 3D),12 x PRN,pdop,hdop,vdop[,system]
            mode = self._dec(2, 0)
            if mode == 2 or mode == 3:
                c[_GSA_DIM] = mode
            for i in range(3, 15):
                if not self._empty(i):
                    c[_GSA_SATS] += 1
            hdop = self._dec(16, 2)
            if hdop > 0:
                c[_GSA_HDOP] = hdop
        if not ok:
            self.rejected += 1

    # -- fields (each reads self._line between self._at marks) -------------

    def _empty(self, i: int) -> bool:
        return i >= self._c[_NF] or self._at[i + 1] - 1 == self._at[i]

    def _char(self, i: int) -> int:
        """The field's only byte; 0 when it is empty or absent, -1 when longer."""
        if self._empty(i):
            return 0
        a = self._at[i]
        return self._line[a] if self._at[i + 1] - 1 == a + 1 else -1

    def _dec(self, i: int, n: int) -> int:
        """A non-negative decimal number times 10**n, rounded half up; -1 if empty or malformed."""
        if self._empty(i):
            return -1
        line = self._line
        k = self._at[i]
        end = self._at[i + 1] - 1
        value = 0
        digits = 0
        frac = -1  # fraction digits taken; -1 before the point
        up = False
        while k < end:
            c = line[k] - 48
            k += 1
            if c == -2 and frac < 0:  # '.'
                frac = 0
                continue
            if c < 0 or c > 9:
                return -1
            digits += 1
            if frac < 0:
                if digits > 7:
                    return -1  # no field read here is that big; refuse rather than overflow a small int
                value = value * 10 + c
            elif frac < n:
                value = value * 10 + c
                frac += 1
            elif frac == n:
                up = c >= 5
                frac += 1
        if digits == 0:
            return -1
        if frac < 0:
            frac = 0
        while frac < n:
            value *= 10
            frac += 1
        return value + 1 if up else value

    def _coord(self, i: int, limit: int, pos: int, neg: int) -> bool:
        """Field i (d..dmm.m..) and i+1 (hemisphere) to slots _DEG, _FRAC (same sign, 1e-7 deg)."""
        if self._empty(i):
            return False
        line = self._line
        k = self._at[i]
        end = self._at[i + 1] - 1
        whole = 0
        start = k
        while k < end and line[k] != 46:  # up to '.'
            c = line[k] - 48
            if c < 0 or c > 9 or k - start > 4:
                return False
            whole = whole * 10 + c
            k += 1
        if k - start < 3:
            return False  # at least one degree digit and two of minutes
        deg = whole // 100
        rem = whole % 100  # whole minutes; the long division of minutes by 60 starts here
        if rem >= 60:
            return False
        k += 1  # past '.'
        q = 0
        for _ in range(7):
            c = 0
            if k < end:
                c = line[k] - 48
                if c < 0 or c > 9:
                    return False
                k += 1
            rem = rem * 10 + c
            q = q * 10 + rem // 60
            rem %= 60
        while k < end:  # digits past the 7th decimal of minutes cannot reach 1e-7 degrees
            c = line[k] - 48
            if c < 0 or c > 9:
                return False
            k += 1
        if rem >= 30:  # what is left is rem/60 of the last unit: a half or more rounds up
            q += 1
            if q == 10000000:
                deg += 1
                q = 0
        if deg > limit or deg == limit and q:
            return False
        h = self._char(i + 1)
        if h == neg:
            deg = -deg
            q = -q
        elif h != pos:
            return False
        self._c[_DEG] = deg
        self._c[_FRAC] = q
        return True

    # -- sentences ----------------------------------------------------------

    def _position(self, i: int) -> bool:
        """A sentence says field i.. holds a valid position: keep it for the cycle."""
        if not self._coord(i, 90, 78, 83):  # N, S
            return False
        lat_d, lat_f = self._c[_DEG], self._c[_FRAC]
        if not self._coord(i + 2, 180, 69, 87):  # E, W
            return False
        if lat_d == 0 and lat_f == 0 and self._c[_DEG] == 0 and self._c[_FRAC] == 0:
            self._c[_VETO] = 1
            return True
        c = self._c
        c[_LAT_D] = lat_d
        c[_LAT_F] = lat_f
        c[_LON_D] = c[_DEG]
        c[_LON_F] = c[_FRAC]
        c[_HAS] = 1
        return True

    # -- cycles -------------------------------------------------------------

    def end_cycle(self) -> None:
        """The receiver's epoch is over (another time arrived, or it went quiet): commit or lose the fix."""
        c = self._c
        if c[_KINDS]:
            if c[_HAS] and not c[_VETO]:
                self.lat = c[_LAT_D] * 10000000 + c[_LAT_F]
                self.lon = c[_LON_D] * 10000000 + c[_LON_F]
                self.dim = c[_GSA_DIM] or (3 if c[_ALT] else 2)
                self.sats = c[_SATS] if c[_SATS] > 0 else c[_GSA_SATS] or -1
                self.hdop = c[_HDOP] if c[_HDOP] > 0 else c[_GSA_HDOP]
                self.utc = c[_TIME]
                self.fixes += 1
                self.valid = True
            else:
                self.valid = False
        for i in range(_DEG):  # a new cycle
            c[i] = 0  # also: no valid position seen (_HAS), none vetoed (_VETO), no altitude (_ALT)
        c[_TIME] = c[_SATS] = c[_HDOP] = c[_GSA_HDOP] = -1
