"""A small HyperLogLog: an estimate of how many distinct items were added, in 4 KB.

Flajolet et al.'s algorithm with the usual small-range correction (linear counting), over the
first 64 bits of an already uniform hash (our viewer ids are HMAC-SHA256 digests). 2^12
registers of one byte give a standard error of 1.04 / sqrt(4096) = 1.6%; below about 10,000
items linear counting is used and the estimate is nearly exact. Redis's PFCOUNT is the same
algorithm with 2^14 registers.
"""

from __future__ import annotations

import math

PRECISION = 12
REGISTERS = 1 << PRECISION
_VALUE_BITS = 64 - PRECISION
_ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)


def empty() -> bytearray:
    return bytearray(REGISTERS)


def add(registers: bytearray, hash64: int) -> bool:
    """Add an item by its 64-bit hash; True if the sketch changed (so it needs saving)."""
    index = hash64 >> _VALUE_BITS
    rest = hash64 & ((1 << _VALUE_BITS) - 1)
    rank = _VALUE_BITS - rest.bit_length() + 1  # position of the first 1 bit
    if registers[index] >= rank:
        return False
    registers[index] = rank
    return True


def count(registers: bytes) -> int:
    """The estimated number of distinct items added."""
    zeros = registers.count(0)
    if zeros == REGISTERS:
        return 0
    raw = _ALPHA * REGISTERS * REGISTERS / math.fsum(2.0**-r for r in registers)
    if raw <= 2.5 * REGISTERS and zeros:
        return round(REGISTERS * math.log(REGISTERS / zeros))
    return round(raw)
