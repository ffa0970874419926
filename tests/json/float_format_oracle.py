"""Floats on the wire as pydantic 2 writes them, checked against an independent oracle.

pydantic-core writes the shortest round-trip digits (Ryu) laid out with the bounds of Rust's
ryu::Buffer::format_finite, and a '+' before a positive exponent. JsonEventSerializer takes the
digits from std::to_chars (libstdc++'s Ryu) and lays them out the same way. This script takes
the digits from elsewhere:

- doubles: Python's repr, David Gay's shortest round-trip algorithm (independent of libstdc++);
- floats:  an exact search over fractions for the shortest decimal that reads back as the
           float, the closest of those, ties to an even last digit (as Ryu picks them);

lays them out by the ryu rules written here again, and compares byte for byte with what
json_float_oracle (the C++ side) wrote for the same bits. Needs only python3.

    python3 float_format_oracle.py <path to json_float_oracle> [count] [seed]
"""
import math
import struct
import subprocess
import sys
from decimal import Decimal


def ryu_layout(negative: bool, digits: str, kk: int) -> str:
    """pydantic 2's layout of 0.<digits> x 10^kk (digits without trailing zeros): Rust ryu's
    format64 bounds, and a '+' before a positive exponent (pydantic-core 2.46 writes 1e+16)."""
    sign = "-" if negative else ""
    n = len(digits)
    if 0 <= kk - n and kk <= 16:
        return sign + digits + "0" * (kk - n) + ".0"
    if 0 < kk <= 16:
        return sign + digits[:kk] + "." + digits[kk:]
    if -5 < kk <= 0:
        return sign + "0." + "0" * -kk + digits
    mantissa = digits[0] + ("." + digits[1:] if n > 1 else "")
    return sign + mantissa + "e" + ("+" if kk > 1 else "") + str(kk - 1)


def expected_double(value: float) -> str:
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")  # |value| = int(digits) x 10^exponent
    stripped = digits.rstrip("0")  # repr may end in zeros ("100.0")
    exponent += len(digits) - len(stripped)
    return ryu_layout(value < 0, stripped, len(stripped) + exponent)


def shortest_float_digits(bits: int):
    """(digits, kk): the shortest decimal reading back as the (positive, finite) binary32 with
    these bits, the closest such to its value, ties to an even last digit. Exact integer
    arithmetic: every quantity is an integer times a power of 2 or of 10."""
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    if e == 0:
        mantissa, q = m, -149
    else:
        mantissa, q = m | 0x800000, e - 150
    # In units of 2^(q-2): the value, and the bounds of the values that read back as it (half
    # a gap either side; below a power of two the gap below is half the gap above).
    value = 4 * mantissa
    below = 1 if (m == 0 and e > 1) else 2
    low, high = value - below, value + 2
    even = mantissa % 2 == 0
    s = q - 2

    def scaled(x: int, p: int):
        """(x x 2^s, 10^p) brought to integers over one common scale: (left, right)."""
        left = x * 2 ** max(s, 0) * 10 ** max(-p, 0)
        right = 2 ** max(-s, 0) * 10 ** max(p, 0)
        return left, right

    def inside(c: int, p: int) -> bool:  # is c x 10^p within [low, high] (x 2^s)?
        lo, unit = scaled(low, p)
        hi, _ = scaled(high, p)
        x = c * unit
        return (lo <= x <= hi) if even else (lo < x < hi)

    # e10: 10^e10 <= value < 10^(e10 + 1)
    e10 = math.floor(math.log10(mantissa) + q * math.log10(2))
    while True:
        v, unit = scaled(value, e10)
        if unit > v:
            e10 -= 1
        elif 10 * unit <= v:
            e10 += 1
        else:
            break
    def closest_inside(n: int):
        """The n-digit decimal (c, p) within the bounds closest to the value, or None."""
        p = e10 - n + 1
        v, unit = scaled(value, p)
        c = v // unit
        candidates = [k for k in (c, c + 1) if inside(k, p)]
        if not candidates:
            return None
        return min(candidates, key=lambda k: (abs(k * unit - v), k % 2)), p

    # Some n-digit decimal within the bounds means an (n+1)-digit one too (a zero appended):
    # bisect for the fewest digits (9 always suffice for a binary32).
    fewest, most = 1, 9
    while fewest < most:
        middle = (fewest + most) // 2
        if closest_inside(middle) is None:
            fewest = middle + 1
        else:
            most = middle
    best, p = closest_inside(fewest)
    digits = str(best)
    stripped = digits.rstrip("0")
    p += len(digits) - len(stripped)
    return stripped, len(stripped) + p


def expected_float(bits: int) -> str:
    negative = bool(bits >> 31)
    if bits & 0x7FFFFFFF == 0:
        return "-0.0" if negative else "0.0"
    digits, kk = shortest_float_digits(bits & 0x7FFFFFFF)
    return ryu_layout(negative, digits, kk)


def self_check() -> None:
    """The layout rules against the examples pydantic 2 writes (so the oracle is not wrong alike)."""
    for value, text in [(1e-9, "1e-9"), (1.5e-7, "1.5e-7"), (0.00001, "0.00001"), (1e15, "1000000000000000.0"),
                        (2.9802322387695312e-8, "2.9802322387695312e-8"), (1e16, "1e+16"), (12.5, "12.5"),
                        (100.0, "100.0"), (-0.0, "-0.0"), (5e-324, "5e-324"), (0.1, "0.1"),
                        (1.7976931348623157e308, "1.7976931348623157e+308"), (123456789012345680.0, "1.2345678901234568e+17")]:
        assert expected_double(value) == text, (value, expected_double(value), text)
    for value, text in [(0.1, "0.1"), (16777216.0, "16777216.0"), (3.4028234663852886e38, "3.4028235e+38"),
                        (1.401298464324817e-45, "1e-45"), (1 / 3, "0.33333334")]:
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        assert expected_float(bits) == text, (value, expected_float(bits), text)


def main() -> int:
    program = sys.argv[1]
    count = sys.argv[2] if len(sys.argv) > 2 else "200000"
    seed = sys.argv[3] if len(sys.argv) > 3 else "20261126"
    self_check()
    out = subprocess.run([program, count, seed], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    if len(lines) < int(count):
        print(f"expected {count} lines, got {len(lines)}")
        return 1
    failures = 0
    floats = 0
    for index, line in enumerate(lines):
        double_bits, double_text, float_bits, float_text = line.split("\t")
        value = struct.unpack("<d", bytes.fromhex(double_bits)[::-1])[0]
        want = expected_double(value)
        if double_text != want:
            failures += 1
            if failures <= 20:
                print(f"double {double_bits} ({value!r}): wrote {double_text}, pydantic writes {want}")
        if index % 2 and index >= 64:  # the edges, then every other float: the exact search is slow
            continue
        floats += 1
        want = expected_float(int(float_bits, 16))
        if float_text != want:
            failures += 1
            if failures <= 20:
                print(f"float {float_bits}: wrote {float_text}, expected {want}")
        # Read as a double (as pydantic and JsonEventSerializer read it), then narrowed to a
        # float: the same float again.
        narrowed = struct.pack("<f", float(float_text))[::-1].hex()
        if narrowed != float_bits and not (float_text in ("0.0", "-0.0") and int(float_bits, 16) & 0x7FFFFFFF == 0):
            failures += 1
            if failures <= 20:
                print(f"float {float_bits}: {float_text} reads back as float bits {narrowed}")
    print(f"float format oracle: {len(lines)} doubles and {floats} floats, {failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
