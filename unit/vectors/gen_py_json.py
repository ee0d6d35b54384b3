#!/usr/bin/env python3
"""Generates py_json_errors.json: what CPython's json module does.

Run with CPython 3.11 from the repository root:
    python3 unit/vectors/gen_py_json.py > unit/vectors/py_json_errors.json

Sections (every byte string is base64):
  parse   : json.loads(bytes) -> {"in", "error": "Invalid encoding" |
            "Invalid JSON", "details": str(exc)} or {"in", "ok": compact}
            where compact is json.dumps(v, ensure_ascii=False,
            separators=(",", ":")) encoded with surrogatepass; "ok" is
            omitted (null) when the value holds something the C side
            stores differently (NaN, Infinity, ints beyond int64).
  escape  : json.dumps(s, ensure_ascii=False)[1:-1] for strings s.
  dumps   : {"in", "spaced", "compact"} for JSON texts.
  floats  : ["<16 hex digits of the IEEE-754 bits>", repr(float)].
Inputs that json.detect_encoding() would not read as UTF-8 are left out
(the C parser supports UTF-8 only).
"""

import base64
import json
import math
import random
import struct
import sys

random.seed(20250115)


def b64(b):
    return base64.b64encode(b).decode("ascii")


def representable(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return True
    if isinstance(v, int):
        return -2**63 <= v < 2**63
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list):
        return all(representable(x) for x in v)
    if isinstance(v, dict):
        return all(representable(x) for x in v.values())
    return False


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def spaced(v):
    return json.dumps(v, ensure_ascii=False).encode("utf-8",
                                                    "surrogatepass")


parse = []
seen = set()


def case(b):
    if b in seen:
        return
    enc = json.detect_encoding(b)
    if enc not in ("utf-8", "utf-8-sig"):
        return
    seen.add(b)
    try:
        v = json.loads(b)
    except json.JSONDecodeError as e:
        parse.append({"in": b64(b), "error": "Invalid JSON",
                      "details": str(e)})
        return
    except UnicodeDecodeError as e:
        parse.append({"in": b64(b), "error": "Invalid encoding",
                      "details": str(e)})
        return
    except (RecursionError, ValueError):
        return
    parse.append({"in": b64(b),
                  "ok": b64(compact(v)) if representable(v) else None})


# the documented tables (runtime-contract.md section 4)
for b in [b"", b"not json", b'{"prompt": "hi"', b"\x80abc", b"[1,",
          b'{"prompt" "hi"}', b"{'a':1}", b'{"a":1,}', b'{"a":"abc',
          b'{"a":"x\x01"}', b'{"a":"\\q"}', b'{"a":"\\u12"}',
          b'{"a":1} x', b'{"a":1}\n{"b":2}', b"   ",
          '{"prompt":"hé"}x'.encode()]:
    case(b)

# UTF-8: every lead byte with assorted continuations, whole and truncated
conts = [0x00, 0x22, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
         0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xFF]
for lead in list(range(0x80, 0x100)):
    for pre, post in [(b"", b""), (b'"', b'"'), ('"é€'.encode(), b'"'),
                      (b'{"k":"', b'"}'), (b"\xef\xbb\xbf\"", b'"')]:
        case(pre + bytes([lead]) + post)
for lead in [0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF,
             0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF]:
    for c2 in conts:
        for c3 in [None, 0x41, 0x80, 0xBF, 0xC0]:
            for c4 in [None, 0x41, 0x80]:
                if c3 is None and c4 is not None:
                    continue
                seq = bytes([lead, c2]) + (bytes([c3]) if c3 is not None
                                          else b"")
                seq += bytes([c4]) if c4 is not None else b""
                case(b'"' + seq + b'"')
                case(b'["x",' + seq)
# overlongs, surrogates (surrogatepass keeps ED A0 80..ED BF BF), limits
for seq in [b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf",
            b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80",
            b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xed\x9f\xbf",
            b"\xee\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff",
            b"\xed\xa0", b"\xed\xa0\x41", b"\xed", b"\xf4\x90",
            b"\xf0\x90\x80", b"\xf0\x90", b"\xe2\x82", b"\xe2\x82\xac",
            b"\xef\xbf\xbf", b"\xef\xbb\xbf", b"\xc2\x80", b"\xdf\xbf"]:
    for pre, post in [(b'"', b'"'), (b'"', b""), (b"", b""),
                      (b'{"a":"\xc3\xa9\n', b'"}'), (b"[1,\n\"", b'"]')]:
        case(pre + seq + post)
        case(pre + seq + b"\x80" + post)
        case(pre + seq + seq + post)

# JSON syntax
syntax = [
    b"{", b"[", b"]", b"}", b"-", b"--1", b"-a", b"+1", b".5", b"1.", b"1.e5",
    b"01", b"00", b"-0", b"-0.0", b"1e", b"1e+", b"1e-", b"1E5", b"1e5x",
    b"1.5e+3", b"1.5E-03", b"0.000001", b"1e400", b"-1e400", b"1e-400",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
    b"18446744073709551616", b"123456789012345678901234567890",
    b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"Infinit", b"-Infinit",
    b"[NaN,Infinity,-Infinity]", b"nan", b"inf", b"infinity",
    b"null", b"nul", b"nulll", b"true", b"tru", b"false", b"fals", b"True",
    b"None", b'"', b'"abc', b'"abc\\', b'"abc\\"', b'"\\', b'"\\u',
    b'"\\u1', b'"\\u12', b'"\\u123', b'"\\u1234', b'"\\u1234"',
    b'"\\u12345"', b'"\\uzzzz"', b'"\\u12g4"', b'"\\U1234"', b'"\\x41"',
    b'"\\a"', b'"\\/"', b'"\\b\\f\\n\\r\\t\\"\\\\"', b'"\\ud800"',
    b'"\\udc00"', b'"\\ud800\\udc00"', b'"\\ud83d\\ude00"',
    b'"\\uD83D\\uDE00"', b'"\\ud800\\ud800"', b'"\\ud800\\u0041"',
    b'"\\ud800\\u12"', b'"\\ud800\\uzzzz"', b'"\\ud800\\n"',
    b'"\\ud800\\"', b'"\\ud800\\u', b'"\\ud800\\udc00',
    b'"\\ud800\\udc00x', b'"\\ud800\\udc00xx', b'"\\ud800x\\udc00"',
    b'"\\u0000"', b'"a\\u0000b"', b'"\\u001f\\u007f\\u0080\\u2028"',
    b'"\x00"', b'"\x1f"', b'"\x7f"', b'"a\tb"', b'"a\nb"', b'"\x20"',
    b'{"a"}', b'{"a":}', b'{"a" 1}', b'{"a":1 "b":2}', b'{"a":1,"b"}',
    b'{"a":1,,"b":2}', b'{,}', b'{"a":1}}', b'[1]]', b'[1,]', b'[,1]',
    b'[1 2]', b'[1,,2]', b'[[]', b'[[],', b'[{]', b'{[]:1}', b'{1:1}',
    b'{"a":1,"a":2}', b'{"b":1,"a":2,"b":3}', b'{"":0}', b'{"\\u0000":1}',
    b' \t\n\r[ \t\n\r1 \t\n\r, \t\n\r2 \t\n\r] \t\n\r',
    b'\x0c1', b'1\x0c', b'\xc2\xa01', b'1\xc2\xa0', b'\xe3\x80\x801',
    b'\xef\xbb\xbf', b'\xef\xbb\xbf1', b'\xef\xbb\xbf\xef\xbb\xbf1',
    b'\xef\xbb\xbf  x', b'\xef\xbb\xbf{"a":', b'1 2', b'1\n2', b'1\r\n2',
    b'"a"\n\n "b"', b'{"a":\n"b\nc"}', b'\n\n\n  x', b'"\xc3\xa9\xe2\x82\xac"x',
    b'"\xf0\x9f\x98\x80"x', b'\n"\xf0\x9f\x98\x80"\nx',
    b'{"prompt": "hello"}', b'{"prompt": "h\xc3\xa9llo \xe4\xb8\x96"}',
    b'[1, "a", {"b": [true, false, null]}, -1.5e-10, 0]', b'[]', b'{}',
    b'[ ]', b'{ }', b'"\\/"', b'[1.0, 2.50, 1e2, 1E-2, -0.0, 0.1]',
    b'{"a": {"b": {"c": {}}}}', b'"\xe2\x80\xa8\xe2\x80\xa9"',
]
for b in syntax:
    case(b)
    case(b"[" + b)
    case(b'{"k":' + b)
    case(b"\n " + b + b" \n")
    case(b'{"\xc3\xa9":[' + b)

# random JSON-ish token soup
tokens = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"u", b"0",
          b"1", b"-", b".", b"e", b"+", b" ", b"\n", b"\t", b"\r", b"a",
          b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\x80",
          b"\x01", b"null", b"true", b"NaN", b"Infinity", b'"k"', b"d8",
          b"00", b"\xed\xa0\x80", b"\xed", b"/", b"n", b"b"]
ascii_tokens = [t for t in tokens if max(t) < 0x80]
while len(parse) < 9000:
    n = random.randint(1, 12)
    case(b"".join(random.choice(tokens) for _ in range(n)))
while len(parse) < 11000:
    n = random.randint(1, 14)
    case(b"".join(random.choice(ascii_tokens) for _ in range(n)))
# random valid documents, mangled at one point
def rand_value(depth):
    r = random.random()
    if depth > 3 or r < 0.3:
        return random.choice([0, 1, -7, 2**40, 1.5, -0.25, 1e-7, 3e21,
                              True, False, None, "", "x", "é\n",
                              "\u2028\x7f\x1f", "😀"])
    if r < 0.65:
        return [rand_value(depth + 1) for _ in range(random.randint(0, 4))]
    return {random.choice(["a", "b", "é", "", "\x00"]):
            rand_value(depth + 1) for _ in range(random.randint(0, 4))}
docs = []
for _ in range(400):
    v = rand_value(0)
    b = random.choice([compact, spaced])(v)
    docs.append(b)
    case(b)
    if b:
        i = random.randrange(len(b))
        case(b[:i])
        case(b[:i] + random.choice(tokens) + b[i + 1:])

# escape
escape = []
strings = [chr(i) for i in range(0x80)] + [
    "", "Hello", "héllo 世界 😀", 'a\nb\t"q"\\ /', "\u2028", "\u2029",
    "\x7f", "é", "\x00\x01\x1f\x20", "</script>", "\ud800", "a\udc00b",
    "".join(chr(i) for i in range(0x100)), "\x1f" * 9 + "a" * 17 + '"',
    "x" * 100 + "\n" + "y" * 7]
for s in strings:
    escape.append({"in": b64(s.encode("utf-8", "surrogatepass")),
                   "out": b64(json.dumps(s, ensure_ascii=False)[1:-1].encode(
                       "utf-8", "surrogatepass"))})
for _ in range(300):
    s = "".join(chr(random.choice([random.randrange(0x80),
                                   random.randrange(0x80, 0x11000)]))
                for _ in range(random.randint(0, 40)))
    escape.append({"in": b64(s.encode("utf-8", "surrogatepass")),
                   "out": b64(json.dumps(s, ensure_ascii=False)[1:-1].encode(
                       "utf-8", "surrogatepass"))})

# dumps
dumps = []
values = [
    "Hello", "", "héllo 世界 😀", 'a\nb\t"q"\\ /', "\u2028", 42, 3.5, True,
    None, False, {"error": "boom", "type": "stream_error"}, [1, "a"],
    {"error": "'list' object has no attribute 'get'",
     "error_type": "AttributeError",
     "message": "An error occurred during streaming"},
    {"status": "Healthy", "time_of_last_update": 1736944496},
    {"error": "Invalid JSON",
     "details": "Expecting value: line 1 column 1 (char 0)"},
    [], {}, [[]], [{}], {"a": []}, {"z": 1, "a": 2, "m": {"y": [1.0, -0.0]}},
    [1e16, 1e15, 1.5e16, 0.0001, 0.00001, 1e-7, 1e100, 5e-324,
     1.7976931348623157e308, 0.1, 0.3, 2.0 / 3, 123456789.125, -2.5e-8,
     9007199254740993.0, 1e22, 1e21, 100.0],
    [-2**63, 2**63 - 1, 0, -1], {"\x00k": "\x00v"}, "\ud800",
]
for v in values:
    dumps.append({"in": b64(compact(v)), "spaced": b64(spaced(v)),
                  "compact": b64(compact(v))})
for b in docs[:200]:
    v = json.loads(b)
    dumps.append({"in": b64(b), "spaced": b64(spaced(v)),
                  "compact": b64(compact(v))})

# floats
floats = []
def fcase(x):
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    floats.append(["%016x" % bits, repr(x)])
for e in range(-1074, 1024):
    fcase(math.ldexp(1.0, e))
for x in [0.0, -0.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e16, 1e15, 9.999e15,
          1e17, 1e-4, 9.999e-5, 1e-5, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
          2.225073858507201e-308, 1.7976931348623157e308, 123.456,
          -1.5, 1e300, 4.35, 0.07, 9007199254740993.0, 2.0**53, 2.0**63]:
    fcase(x)
    fcase(-x)
for _ in range(3000):
    bits = random.getrandbits(64)
    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isfinite(x):
        fcase(x)
for _ in range(1000):
    fcase(random.choice([1, -1]) * random.randint(0, 10**random.randint(1, 17))
          / 10**random.randint(0, 20))

out = {
    "generator": "CPython %s json (unit/vectors/gen_py_json.py)"
                 % sys.version.split()[0],
    "parse": parse,
    "escape": escape,
    "dumps": dumps,
    "floats": floats,
}
json.dump(out, sys.stdout, indent=0)
sys.stdout.write("\n")
