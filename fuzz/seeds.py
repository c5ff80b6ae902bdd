#!/usr/bin/env python3
"""Writes the checked-in seed corpus, fuzz/corpus/<target>/<name>, from the cases below.

    python3 fuzz/seeds.py        # rewrites fuzz/corpus/{decoders,rules,envelopes,journal}/

The seeds are small, named, meaningful inputs (valid and broken) in each target's input layout;
the fuzzer mutates from them. They are not minimized by `cargo fuzz cmin`: a minimized set
keeps whatever inputs the fuzzer happened to find first, while these stay readable and say what
they exercise. Add a case here, not a file by hand, so the layout stays right.
"""

import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def msgpack(value):
    """A minimal MessagePack encoder: dict, list, str, bytes, bool, None, int, float."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        if -32 <= value < 0:
            return struct.pack("b", value)
        if 0 <= value < 2**64:
            return b"\xcf" + struct.pack(">Q", value)
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        if len(data) < 32:
            return bytes([0xA0 | len(data)]) + data
        return b"\xd9" + bytes([len(data)]) + data
    if isinstance(value, bytes):
        return b"\xc4" + bytes([len(value)]) + value
    if isinstance(value, list):
        assert len(value) < 16
        return bytes([0x90 | len(value)]) + b"".join(msgpack(v) for v in value)
    if isinstance(value, dict):
        assert len(value) < 16
        return bytes([0x80 | len(value)]) + b"".join(
            msgpack(k) + msgpack(v) for k, v in value.items()
        )
    raise TypeError(value)


def text(s):
    return s.encode()


ORDER = {"order_id": "o-1", "cust_id": 42, "amount": "12.50", "rev": "3",
         "placed_at": "2024-05-01 10:00:00", "tags": ["a", "b"], "meta": {"ip": "10.0.0.1"}}

# decoders: byte 0 selects the Raw variant (selector % 9), the rest is its payload.
JSON, BYTES, MSGPACK, LOGFMT, TEXT, CSV, FLOAT, INT, VALUE = range(9)
DECODERS = {
    "json_object": (JSON, text(json.dumps(ORDER))),
    "json_nested": (JSON, text('{"a":{"b":{"c":[1,2,{"d":null}]}},"e":-0.0,"f":1e308}')),
    "json_deep": (JSON, text('{"a":' * 70 + "1" + "}" * 70)),
    "json_scalars": (JSON, text('"just a string"')),
    "json_array": (JSON, text("[1,2,3]")),
    "json_null": (JSON, text("null")),
    "json_unicode": (JSON, text('{"k\\u00e9y":"\\ud83d\\ude00","big":18446744073709551615}')),
    "json_truncated": (JSON, text('{"a": [1, 2, {"b": "unterminated')),
    "json_trailing": (JSON, text('{"a":1} {"b":2}')),
    "json_bad_escape": (JSON, text('{"a":"\\x"}')),
    "bytes_json": (BYTES, text('  {"sensor":"t-1","celsius":21.5}')),
    "bytes_binary": (BYTES, bytes(range(0, 256, 7))),
    "msgpack_map": (MSGPACK, msgpack({"order_id": "o-2", "amount": 9.75, "qty": 3,
                                      "ok": True, "none": None, "list": [1, -2, "x"]})),
    "msgpack_bin": (MSGPACK, msgpack({"blob": b"\x00\x01\xff"})),
    "msgpack_trailing": (MSGPACK, msgpack({"a": 1}) + b"\x00"),
    "msgpack_deep": (MSGPACK, b"\x91" * 80 + b"\x01"),
    "msgpack_truncated": (MSGPACK, msgpack({"key": "value"})[:-2]),
    "msgpack_scalar": (MSGPACK, msgpack(2**63 + 5)),
    "logfmt_line": (LOGFMT, text('level=info msg="disk \\"sda\\" full" retry host=db-1 took=12ms')),
    "logfmt_flags_unicode": (LOGFMT, text("debug\tünï=côdé empty= a=1 a=2")),
    "logfmt_unterminated": (LOGFMT, text('msg="open')),
    "logfmt_bad_quote": (LOGFMT, text('a=x"y b="q"z')),
    "logfmt_empty_key": (LOGFMT, text("=x")),
    "text_plain": (TEXT, text("hello, world")),
    "text_invalid_utf8": (TEXT, b"caf\xe9 \xff\xfe"),
    "csv_row": (CSV, text('id,"full name",amount\n7,"Lovelace, Ada",19.5')),
    "csv_quoted_newline": (CSV, text('a,b\n"x\ny","say ""hi"""\r\n')),
    "csv_field_count": (CSV, text("a,b,c\n1,2")),
    "csv_two_records": (CSV, text("a,b\n1,2\n3,4")),
    "csv_empty_row": (CSV, text("a\n")),
    "float_value": (FLOAT, struct.pack("<d", 21.5)),
    "float_nan": (FLOAT, struct.pack("<d", float("nan"))),
    "float_infinity": (FLOAT, struct.pack("<d", float("-inf"))),
    "int_min": (INT, struct.pack("<q", -(2**63))),
    "value_object": (VALUE, text('{"id":1,"nested":{"list":[true,false,null]}}')),
    "value_deep": (VALUE, text("[" * 100 + "]" * 100)),
}

ORDERS_TOML = """\
[default]
place = { text = "message", bool = "flag", number = "n", array = "items", bytes = "hex" }

[sources.orders]
id = "order_id"
key = "customer.id"
version = "rev"
timestamp = "placed_at"
drop = ["debug"]
rename = [{ from = "cust_id", to = "customer.id" }]
convert = [{ field = "amount", to = "number" }, { field = "rev", to = "integer" },
           { field = "placed_at", to = "timestamp" }]
defaults = { currency = "EUR", "meta.channel" = "web" }
max_depth = 8
max_size = 4096

[[sources.orders.validate]]
field = "amount"
required = true
type = "number"
min = 0
max = 1e6

[[sources.orders.validate]]
field = "currency"
allowed = ["EUR", "USD"]
"""

ORDERS_JSON = json.dumps({
    "sources": {
        "orders": {
            "id": "order_id", "key": "customer.id", "version": "rev",
            "rename": [{"from": "cust_id", "to": "customer.id"}],
            "convert": [{"field": "amount", "to": "number"}, {"field": "rev", "to": "integer"}],
            "validate": [{"field": "amount", "required": True, "type": "number", "min": 0},
                         {"field": "order_id", "pattern": "^o-[0-9]+$", "min_len": 3,
                          "max_len": 12}],
        },
        "sensors": {
            "convert": [{"field": "celsius", "to": "float"}, {"field": "ok", "to": "bool"},
                        {"field": "at", "to": "timestamp"}, {"field": "n", "to": "string"}],
            "timestamp": "at",
            "max_depth": 2,
        },
    }
})

# rules: byte 0 bit 0 = rules in TOML (0) or JSON (1), bit 1 = payload in JSON (0) or
# MessagePack (1); then the rules text, a NUL, the payload.
TOML_SEL, JSON_SEL, TOML_MSGPACK_SEL, JSON_MSGPACK_SEL = 0, 1, 2, 3
RULES = {
    "toml_orders": (TOML_SEL, ORDERS_TOML, json.dumps(ORDER)),
    "toml_orders_rejected": (TOML_SEL, ORDERS_TOML, '{"order_id":"o-9","amount":"-3"}'),
    "toml_default_place": (TOML_SEL, "[default]\nplace = { array = \"items\" }\n", "[1,[2],{}]"),
    "toml_typo": (TOML_SEL, "[default]\nvalidate = [{ field = \"a\", mni = 1 }]\n", "{}"),
    "toml_bad_syntax": (TOML_SEL, "[sources.x\nid = ", "{}"),
    "toml_bad_regex": (TOML_SEL, "[default]\nvalidate = [{ field = \"a\", pattern = \"(\" }]\n",
                       '{"a":"x"}'),
    "toml_empty_path": (TOML_SEL, "[default]\nrename = [{ from = \"a\", to = \"b..c\" }]\n", "{}"),
    "json_orders": (JSON_SEL, ORDERS_JSON, json.dumps(ORDER)),
    "json_sensors": (JSON_SEL, ORDERS_JSON,
                     '{"celsius":"21.5","ok":"yes","at":"10/Oct/2000:13:55:36 -0700","n":7}'),
    "json_timestamps": (JSON_SEL, json.dumps({"default": {
        "convert": [{"field": "t", "to": "timestamp"}], "timestamp": "t"}}),
        '{"t":1700000000123}'),
    "json_defaults_drop": (JSON_SEL, json.dumps({"default": {
        "defaults": {"a.b": 1, "c": [None]}, "drop": ["x.y"], "key": "a.b",
        "validate": [{"field": "c", "type": "array", "min_len": 1, "allowed": [[None]]}]}}),
        '{"x":{"y":1,"z":2}}'),
    "json_unknown_field": (JSON_SEL, '{"defualt": {}}', "{}"),
    "json_truncated": (JSON_SEL, '{"sources": {"a": {"convert": [{"field": ', "{}"),
    "json_limits_zero": (JSON_SEL, '{"default": {"max_depth": 0, "max_size": 0}}', '{"a":1}'),
    "toml_orders_msgpack": (TOML_MSGPACK_SEL, ORDERS_TOML, msgpack(
        {"order_id": "o-3", "cust_id": 7, "amount": "1.5", "rev": "2",
         "placed_at": "2024-05-01T10:00:00Z"})),
    "json_depth_msgpack": (JSON_MSGPACK_SEL,
                           '{"default": {"max_depth": 16, "place": {"array": "items"}}}',
                           b"\x91" * 20 + b"\x01"),
}

# envelopes: byte 0 selects the type and encoding (selector % 5), the rest is the encoding.
MESSAGE = {"id": "m-1", "source": "orders", "key": "c-42", "version": 3,
           "timestamp": "2024-05-01T10:00:00Z", "headers": {"trace": "abc"},
           "body": {"amount": 12.5, "tags": ["a"], "nested": {"x": None}}}
CHANGE = {"key": "c-42", "version": 7, "id": "c-42@7",
          "op": {"op": "upsert", "value": {"total": 12}}, "position": 9}
MSG_JSON, MSG_MSGPACK, CHANGE_JSON, INPUT_JSON, INPUT_MSGPACK = range(5)
ENVELOPES = {
    "message_json": (MSG_JSON, text(json.dumps(MESSAGE))),
    "message_json_minimal": (MSG_JSON, text(
        '{"id":"","source":"","key":null,"version":null,'
        '"timestamp":"1970-01-01T00:00:00+00:00","body":{}}')),
    "message_json_bad_time": (MSG_JSON, text(json.dumps(dict(MESSAGE, timestamp="yesterday")))),
    "message_msgpack": (MSG_MSGPACK, msgpack(MESSAGE)),
    "message_msgpack_nan_body": (MSG_MSGPACK, msgpack(dict(MESSAGE, body={"f": float("nan")}))),
    "change_upsert": (CHANGE_JSON, text(json.dumps(CHANGE))),
    "change_delete": (CHANGE_JSON, text('{"key":"k","version":null,"id":"k#1","op":{"op":"delete"}}')),
    "input_csv": (INPUT_JSON, text(json.dumps({"source": "sensors", "headers": {"h": "v"},
                                               "raw": {"Csv": {"header": ["id", "t"], "row": "1,2"}}}))),
    "input_json_bytes": (INPUT_JSON, text(json.dumps({"source": "s", "headers": {},
                                                      "raw": {"Json": [123, 125]}}))),
    "input_float": (INPUT_JSON, text('{"source":"m","headers":{},"raw":{"Float":1.5}}')),
    "input_msgpack_float": (INPUT_MSGPACK, msgpack({"source": "m", "headers": {},
                                                    "raw": {"Float": 1.5}})),
    "input_msgpack_logfmt": (INPUT_MSGPACK, msgpack({"source": "app", "headers": {"h": "v"},
                                                     "raw": {"Logfmt": "level=warn msg=\"x y\""}})),
}


# The journal target: byte 0 picks the form (0 whole file, 1 header + bytes, 2 header + one
# good record + bytes); see fuzz/checks/journal.rs.
def journal_record(payload):
    import zlib
    length = struct.pack("<I", len(payload))
    return length + struct.pack("<I", zlib.crc32(length + payload)) + payload


JOURNAL_HEADER = b"MQSJRNL1" + struct.pack("<Q", 0)
JOURNAL = {
    "empty_file": (0, b""),
    "header_only": (0, JOURNAL_HEADER),
    "header_cut": (0, JOURNAL_HEADER[:5]),
    "bad_magic": (0, b"XXXXXXXX" + JOURNAL_HEADER[8:] + journal_record(b"a")),
    "three_records": (1, journal_record(b"one") + journal_record(b"") + journal_record(b"three")),
    "torn_last_record": (1, journal_record(b"one") + journal_record(b"two")[:7]),
    "torn_payload": (1, journal_record(b"one") + journal_record(b"a longer payload")[:15]),
    "zero_tail": (1, journal_record(b"one") + bytes(40)),
    "bad_crc_last": (1, journal_record(b"one") + journal_record(b"two")[:-1] + b"X"),
    "bad_crc_middle": (2, journal_record(b"two")[:-1] + b"X" + journal_record(b"three")),
    "huge_length": (2, struct.pack("<II", 0xFFFFFFF0, 0) + b"rest"),
    "zeros_then_record": (2, bytes(8) + journal_record(b"after zeros")),
}


def write(target, cases, encode):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    for name, case in cases.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(encode(*case))


write("decoders", DECODERS, lambda selector, payload: bytes([selector]) + payload)
write("rules", RULES,
      lambda selector, rules, payload: bytes([selector]) + rules.encode() + b"\0"
      + (payload if isinstance(payload, bytes) else payload.encode()))
write("envelopes", ENVELOPES, lambda selector, payload: bytes([selector]) + payload)
write("journal", JOURNAL, lambda selector, payload: bytes([selector]) + payload)
