"""Personal data is masked wherever it may surface: phones (+86 and bare 11-digit), 18-digit resident
ID numbers (with a check character X), and names of people (not of units or places); in free text, in
nested JSON and in log lines."""
from __future__ import annotations

import json
import logging
import sys

import pytest

from accidentlink.logs import MaskingJsonFormatter
from accidentlink.masking import mask_id_number, mask_name, mask_phone, mask_record, mask_text

PHONE = "13800001234"
PHONE86 = "+8613900005678"
ID = "371502199001011234"
ID_X = "37150219900101123X"


def hidden(masked: str, *secrets: str) -> bool:
    return not any(s in masked for s in secrets)


# ---------------------------------------------------------------- phones
@pytest.mark.parametrize("phone,want", [
    ("+8613800001234", "+86138****1234"),
    ("13800001234", "138****1234"),
    ("8613800001234", "86138****1234"),
    ("+86 138 0000 1234", "+86138****1234"),
])
def test_a_phone_keeps_only_its_prefix_and_last_four_digits(phone, want):  # type: ignore[no-untyped-def]
    assert mask_phone(phone) == want
    assert "0000" not in mask_phone(phone)


@pytest.mark.parametrize("phone", [None, ""])
def test_nothing_to_mask_stays_nothing(phone):  # type: ignore[no-untyped-def]
    assert mask_phone(phone) == phone
    assert mask_id_number(phone) == phone
    assert mask_name(phone) == phone


def test_a_short_number_is_masked_whole():  # type: ignore[no-untyped-def]
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize("text", [
    f"报警人电话{PHONE}，请回拨", f"call {PHONE} now", f"tel:{PHONE}", f"({PHONE})", f"{PHONE}",
    f"联系{PHONE86}。", f"phones: {PHONE}, {PHONE86}; done",
])
def test_phones_inside_free_text_are_masked(text):  # type: ignore[no-untyped-def]
    out = mask_text(text)
    assert hidden(out, PHONE, PHONE86[3:], "00001234"[:4] + "1234"), out
    assert "****" in out
    assert ("1234" in out) == ("1234" in text)  # the last four digits stay, for recognition


def test_masking_keeps_the_text_around_the_number():  # type: ignore[no-untyped-def]
    assert mask_text(f"报警人电话{PHONE}，请回拨") == "报警人电话138****1234，请回拨"
    assert mask_text(f"联系{PHONE86}。") == "联系+86139****5678。"


def test_ordinary_numbers_are_not_mistaken_for_phones():  # type: ignore[no-untyped-def]
    for text in ("伤2 亡0", "距离3.4km 预计6分钟", "amount 2500000 fen", "report 122-20261122-000123",
                 "plate 鲁P12345", "lat 36.4567 lon 115.9853"):
        assert mask_text(text) == text


# ---------------------------------------------------------------- ID numbers
@pytest.mark.parametrize("id_number", [ID, ID_X, ID_X.lower()])
def test_an_id_number_in_text_keeps_region_prefix_and_check_character_only(id_number):  # type: ignore[no-untyped-def]
    out = mask_text(f"身份证号{id_number}，驾驶人")
    assert id_number not in out
    assert "19900101" not in out, "the birth date is hidden"
    masked = out[len("身份证号"):-len("，驾驶人")]
    assert len(masked) == 18 and masked.startswith("371") and masked.endswith(id_number[-1])
    assert masked[3:17] == "*" * 14


def test_mask_id_number_hides_all_but_the_ends():  # type: ignore[no-untyped-def]
    assert mask_id_number(ID) == "371" + "*" * 14 + "4"
    assert mask_id_number(ID_X) == "371" + "*" * 14 + "X"
    assert mask_id_number("1234") == "****"


def test_a_phone_and_an_id_number_in_the_same_text_are_both_masked():  # type: ignore[no-untyped-def]
    out = mask_text(f"张某 {ID} 电话 {PHONE86}")
    assert hidden(out, ID, "19900101", "13900005678")


# ---------------------------------------------------------------- names
def test_names_keep_the_family_name_only():  # type: ignore[no-untyped-def]
    assert mask_name("张三丰") == "张**"
    assert mask_name("王某") == "王*"
    assert mask_name("李") == "李*"


def test_nested_json_masks_people_and_free_text_but_not_units_or_places():  # type: ignore[no-untyped-def]
    doc = {
        "incident_id": "INC-1",
        "reporter": {"name": "王小明", "phone": PHONE86},
        "parties": [{"name": "张三丰", "phone": PHONE, "id_number": ID, "plate": "鲁P12345", "insurer": "PICC",
                     "ci_policy": "PDZA202637150000001234"},
                    {"name": "李四", "id_number": ID_X, "plate": "鲁P54321"}],
        "units": [{"unit_id": "LC-120-CTR-1", "name": "聊城市急救中心救护车1", "home": {"name": "聊城市急救中心"}}],
        "hospital": {"name": "聊城市人民医院", "address": "东昌府区"},
        "timeline": [[{"kind": "note", "text": f"回拨{PHONE}，身份证{ID}"}]],
        "description": f"两车相撞，报警人{PHONE86}",
        "callback": PHONE,
        "to": PHONE86,
    }
    out = mask_record(doc)
    dumped = json.dumps(out, ensure_ascii=False)
    assert hidden(dumped, PHONE, "13900005678", ID, ID_X, "小明", "三丰", "李四"), dumped
    assert out["reporter"] == {"name": "王**", "phone": "+86139****5678"}
    assert out["parties"][0]["name"] == "张**" and out["parties"][0]["id_number"] == "371" + "*" * 14 + "4"
    assert out["parties"][1]["name"] == "李*"
    assert out["parties"][0]["plate"] == "鲁P12345" and out["parties"][0]["insurer"] == "PICC"
    assert out["units"] == doc["units"], "units and their posts keep their names"
    assert out["hospital"] == doc["hospital"]
    assert out["timeline"][0][0]["kind"] == "note" and "138****1234" in out["timeline"][0][0]["text"]
    assert out["callback"] == "138****1234" and out["to"] == "+86139****5678"
    assert out["incident_id"] == "INC-1"
    assert doc["reporter"]["name"] == "王小明", "the input is not changed (a deep copy)"


def test_a_party_without_phone_or_id_number_still_has_its_name_masked():  # type: ignore[no-untyped-def]
    from accidentlink.reports import parse_report
    from tests.support.reports import report

    r = report(parties=[{"name": "张三丰", "plate": "鲁P12345", "vehicle_type": "car", "insurer": "PICC",
                         "ci_policy": "P-1"}])
    stored = parse_report(json.dumps(r)).to_json()  # what the pipelines keep as the report's payload
    out = mask_record(stored["parties"][0])
    assert "三丰" not in json.dumps(out, ensure_ascii=False), out


def test_masking_leaves_non_text_values_alone():  # type: ignore[no-untyped-def]
    doc = {"injured": 2, "ok": True, "none": None, "lat": 36.4, "list": [1, 2.5, None, False]}
    assert mask_record(doc) == doc


# ---------------------------------------------------------------- logs
def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad caller {PHONE} {ID}")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("accidentlink.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_the_log_formatter_masks_phones_and_id_numbers_in_the_message():  # type: ignore[no-untyped-def]
    line = MaskingJsonFormatter().format(_record("report from %s (id %s) at %s", PHONE86, ID, "聊临路"))
    out = json.loads(line)
    assert hidden(line, "13900005678", ID, "19900101"), line
    assert "+86139****5678" in out["msg"] and "371" + "*" * 14 + "4" in out["msg"] and "聊临路" in out["msg"]
    assert out["level"] == "warning" and out["logger"] == "accidentlink.test" and out["at"]


def test_the_log_formatter_masks_the_traceback_too():  # type: ignore[no-untyped-def]
    line = MaskingJsonFormatter().format(_record("failed on %s", f"caller {PHONE}", exc=True))
    out = json.loads(line)
    assert hidden(line, PHONE, ID), line
    assert "ValueError" in out["exc"] and "138****1234" in out["exc"]


def test_setup_logging_routes_records_through_the_masking_formatter(capsys):  # type: ignore[no-untyped-def]
    from accidentlink.logs import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, getattr(root, "_accidentlink", None)
    try:
        if hasattr(root, "_accidentlink"):
            del root._accidentlink
        setup_logging("INFO")
        assert any(isinstance(h.formatter, MaskingJsonFormatter) for h in root.handlers)
        for h in root.handlers:
            h.stream = sys.stderr  # capsys's stream
        logging.getLogger("accidentlink.x").warning("caller %s id %s", PHONE, ID)
        err = capsys.readouterr().err
        assert err and hidden(err, PHONE, ID), err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        if saved[2] is None and hasattr(root, "_accidentlink"):
            del root._accidentlink


@pytest.mark.parametrize("typed,shown", [
    ("家属电话 139 8765 4321", "家属电话 139****4321"),
    ("call +86 139-8765-4321 now", "call +86 139****4321 now"),
    ("旧身份证 371502850101123", "旧身份证 371***********3"),
    ("身份证37150219850101123X，", "身份证371**************X，"),
])
def test_numbers_typed_with_separators_or_old_ids_are_masked_in_free_text(typed: str, shown: str) -> None:
    assert mask_text(typed) == shown


def test_a_log_line_masks_a_spaced_phone_typed_into_an_address() -> None:
    import logging

    from accidentlink.logs import MaskingJsonFormatter

    rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "geocoding %s failed", ("聊临路 电话139 8765 4321",), None)
    line = MaskingJsonFormatter().format(rec)
    assert "8765" not in line and "139****4321" in line
