"""Strategy releases through the API: upload, four-eyes approval, activation, history,
rollback, refused uploads with the place of the error, shadow and split candidates.
Every test runs on SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import datetime as dt
from typing import Any

# Version 2 of the example declines everyone under 40 (the example applicant is 36).
STRICTER = {'"applicant.age < 18"': '"applicant.age < 40"'}

TINY = """\
schema_version: 1
strategy: tiny_loan
version: 1
stage: origination
inputs:
  applicant.id_number: {type: str, pii: id_card}
  applicant.age: {type: int, min: 16, max: 100}
rules:
  - {id: age_min, when: "applicant.age < 18", action: decline, reason: AGE_BELOW_MIN}
outcome:
  limit: "1000"
  decision: "'decline' if declined else 'approve'"
"""


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` in ``text``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n, line.index(needle) + 1
    raise AssertionError(needle)


def _versions(api: Any, key: Any, strategy: str = "consumer_loan") -> dict[str, Any]:
    r = api.client.get(f"/v1/strategies/{strategy}/versions", headers=key.headers)
    assert r.status_code == 200, r.text
    return {v["version"]: v for v in r.json()["items"]}


def test_upload_four_eyes_approve_activate_history_rollback(api: Any, pack: Any) -> None:
    ann = api.key("author", "approve", "audit", name="ann")
    ann_again = api.key("approve", name="ann")
    bob = api.key("approve", "audit", name="bob")
    caller = api.key("decide")
    files = pack("2", **STRICTER)

    up = api.upload(ann, files)
    assert up.status_code == 201, up.text
    body = up.json()
    assert body["strategy"] == "consumer_loan"
    assert body["version"] == "2"
    assert body["status"] == "pending"
    assert body["digest"].startswith("sha256:")
    assert isinstance(body["warnings"], list)
    # The same content again changes nothing.
    same = api.upload(ann, files)
    assert same.status_code == 200, same.text
    assert same.json()["digest"] == body["digest"]
    assert api.count("strategy_versions") == 2
    # Pending: the active version still decides.
    assert api.decide(caller).json()["strategy"]["version"] == "1"

    got = api.client.get("/v1/strategies/consumer_loan/versions/2", headers=bob.headers)
    assert got.status_code == 200, got.text
    assert got.json()["files"] == files
    assert got.json()["entry"] == "strategy.yaml"
    assert got.json()["digest"] == body["digest"]

    for who in (ann, ann_again):
        denied = api.client.post("/v1/strategies/consumer_loan/versions/2/approve",
                                 headers=who.headers)
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["code"] == "four-eyes"
    assert _versions(api, bob)["2"]["status"] == "pending"

    ok = api.client.post("/v1/strategies/consumer_loan/versions/2/approve", headers=bob.headers)
    assert ok.status_code == 200, ok.text
    dep = ok.json()["deployment"]
    assert dep["active_version"] == "2"
    assert dep["updated_by"] == bob.id
    again = api.client.post("/v1/strategies/consumer_loan/versions/2/approve",
                            headers=bob.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already-approved"

    d2 = api.decide(caller)
    assert d2.status_code == 200, d2.text
    assert d2.json()["strategy"] == {"id": "consumer_loan", "version": "2",
                                     "digest": body["digest"]}
    assert d2.json()["decision"]["decision"] == "decline"
    assert "AGE_BELOW_MIN" in d2.json()["decision"]["reasons"]

    versions = _versions(api, bob)
    v1, v2 = versions["1"], versions["2"]
    assert v2["status"] == "approved" and v2["active"] is True and v1["active"] is False
    assert v2["uploaded_by"] == {"key": ann.id, "name": "ann"}
    assert v2["approved_by"] == {"key": bob.id, "name": "bob"}
    assert _time(v2["uploaded_at"]) <= _time(v2["approved_at"])
    assert v1["uploaded_by"] == {"key": "system", "name": "system"}
    assert [h["action"] for h in v2["history"]] == ["upload", "approve", "activate"]
    assert [h["by"]["name"] for h in v2["history"]] == ["ann", "bob", "bob"]
    assert v2["history"][2]["detail"] == {"previous": "1"}
    assert [h["action"] for h in v1["history"]] == ["bootstrap"]
    listed = api.client.get("/v1/strategies", headers=bob.headers).json()["items"]
    assert [(s["strategy"], s["deployment"]["active_version"]) for s in listed] == \
        [("consumer_loan", "2")]

    back = api.client.post("/v1/strategies/consumer_loan/rollback", json={"version": "1"},
                           headers=bob.headers)
    assert back.status_code == 200, back.text
    assert back.json()["deployment"]["active_version"] == "1"
    d1 = api.decide(caller)
    assert d1.json()["strategy"]["version"] == "1"
    assert d1.json()["decision"]["decision"] == "approve"
    versions = _versions(api, bob)
    assert versions["1"]["active"] is True and versions["2"]["active"] is False
    assert [h["action"] for h in versions["1"]["history"]] == ["bootstrap", "rollback"]
    assert versions["1"]["history"][1]["by"] == {"key": bob.id, "name": "bob"}
    assert versions["1"]["history"][1]["detail"] == {"previous": "2"}
    # Decisions made before keep the version that made them; replay uses it.
    rep = api.client.post(f"/v1/decisions/{d2.json()['id']}/replay", headers=ann.headers)
    assert rep.json()["identical"] is True
    assert rep.json()["strategy"]["version"] == "2"


def test_rollback_and_candidate_need_an_approved_version(api: Any, pack: Any) -> None:
    author, approver = api.key("author"), api.key("approve")
    assert api.upload(author, pack("3", **STRICTER)).status_code == 201
    for method, url, body in [
            ("POST", "/v1/strategies/consumer_loan/rollback", {"version": "3"}),
            ("PUT", "/v1/strategies/consumer_loan/candidate",
             {"version": "3", "mode": "shadow", "percent": 50})]:
        r = api.client.request(method, url, json=body, headers=approver.headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "not-approved"
    missing = api.client.post("/v1/strategies/consumer_loan/rollback", json={"version": "9"},
                              headers=approver.headers)
    assert missing.status_code == 404
    active = api.client.put("/v1/strategies/consumer_loan/candidate",
                            json={"version": "1"}, headers=approver.headers)
    assert active.status_code == 409
    assert active.json()["error"]["code"] == "candidate-active"
    dep = api.client.get("/v1/strategies", headers=author.headers).json()["items"][0]
    assert dep["deployment"]["active_version"] == "1"
    assert dep["deployment"]["candidate_version"] is None


def test_same_version_other_content_is_refused(api: Any, pack: Any) -> None:
    author = api.key("author")
    assert api.upload(author, pack("2", **STRICTER)).status_code == 201
    before = api.rows("strategy_versions")
    other = api.upload(author, pack("2", **{'"applicant.age < 18"': '"applicant.age < 21"'}))
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "version-exists"
    # The example itself (version 1) cannot be replaced either.
    changed_v1 = api.upload(author, pack("1", **STRICTER))
    assert changed_v1.status_code == 409
    assert api.rows("strategy_versions") == before


def test_yaml_upload_of_one_file(api: Any) -> None:
    author, approver, caller = api.key("author"), api.key("approve"), api.key("decide")
    headers = {**author.headers, "Content-Type": "application/yaml"}
    up = api.client.post("/v1/strategies", content=TINY.encode(), headers=headers)
    assert up.status_code == 201, up.text
    assert up.json()["strategy"] == "tiny_loan"
    assert up.json()["version"] == "1"
    assert up.json()["status"] == "pending"
    assert api.decide(caller, {"applicant": {"id_number": api.id_number, "age": 30}},
                      strategy="tiny_loan").status_code == 404
    stored = api.client.get("/v1/strategies/tiny_loan/versions/1", headers=author.headers)
    assert stored.json()["files"] == {"strategy.yaml": TINY}
    ok = api.client.post("/v1/strategies/tiny_loan/versions/1/approve", headers=approver.headers)
    assert ok.status_code == 200, ok.text
    r = api.decide(caller, {"applicant": {"id_number": api.id_number, "age": 17}},
                   strategy="tiny_loan")
    assert r.status_code == 200, r.text
    assert r.json()["strategy"]["id"] == "tiny_loan"
    assert r.json()["decision"]["decision"] == "decline"
    text_yaml = {**author.headers, "Content-Type": "text/yaml; charset=utf-8"}
    assert api.client.post("/v1/strategies", content=TINY.encode(),
                           headers=text_yaml).status_code == 200  # same content again


def test_invalid_strategy_names_file_line_and_column(api: Any, pack: Any) -> None:
    author = api.key("author")
    before = api.count("strategy_versions")

    files = pack("2", **{'"applicant.age < 18"': '"applicant.agee < 18"'})
    r = api.upload(author, files)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "strategy-invalid"
    [p] = err["problems"]
    assert p["file"] == "strategy.yaml"
    assert p["path"] == "$.files['strategy.yaml']"
    assert p["code"] == "unknown-field"
    assert (p["line"], p["column"]) == _where(files["strategy.yaml"], "applicant.agee")

    # An error in a scorecard names the scorecard's file.
    files = pack("2")
    card = files["scorecards/general.yaml"]
    assert "expr: bureau.score\n" in card
    files["scorecards/general.yaml"] = card.replace("expr: bureau.score\n",
                                                    "expr: bureau.scroe\n", 1)
    r = api.upload(author, files)
    assert r.status_code == 422, r.text
    [p] = r.json()["error"]["problems"]
    assert p["file"] == "scorecards/general.yaml"
    assert p["path"] == "$.files['scorecards/general.yaml']"
    assert (p["line"], p["column"]) == _where(files["scorecards/general.yaml"], "bureau.scroe")

    # The same through a single YAML file.
    typo = TINY.replace('"applicant.age < 18"', '"applicant.agee < 18"')
    r = api.client.post("/v1/strategies", content=typo.encode(),
                        headers={**author.headers, "Content-Type": "application/yaml"})
    assert r.status_code == 422, r.text
    [p] = r.json()["error"]["problems"]
    assert (p["file"], p["line"], p["column"]) == ("strategy.yaml", 9, 26)
    assert _where(typo, "applicant.agee") == (9, 26)

    # Broken YAML: the place of the syntax error.
    broken = TINY.replace("stage: origination\n", "stage: [origination\n")
    r = api.client.post("/v1/strategies", content=broken.encode(),
                        headers={**author.headers, "Content-Type": "application/yaml"})
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["problems"]
    assert problems and all(p["file"] == "strategy.yaml" and p["line"] for p in problems)
    assert api.count("strategy_versions") == before


def _candidate(api: Any, key: Any, **body: Any) -> dict[str, Any]:
    r = api.client.put("/v1/strategies/consumer_loan/candidate", json=body, headers=key.headers)
    assert r.status_code == 200, r.text
    return r.json()["deployment"]  # type: ignore[no-any-return]


def _approved_v2(api: Any, pack: Any) -> tuple[Any, Any]:
    author, approver = api.key("author"), api.key("approve", "audit")
    assert api.upload(author, pack("2", **STRICTER)).status_code == 201
    ok = api.client.post("/v1/strategies/consumer_loan/versions/2/approve",
                         json={"activate": False}, headers=approver.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["deployment"]["active_version"] == "1"
    assert _versions(api, approver)["2"]["status"] == "approved"
    return author, approver


def test_shadow_candidate_is_logged_not_returned(api: Any, pack: Any) -> None:
    _, approver = _approved_v2(api, pack)
    dep = _candidate(api, approver, version="2", mode="shadow", percent=100)
    assert (dep["active_version"], dep["candidate_version"], dep["candidate_mode"],
            dep["candidate_percent"]) == ("1", "2", "shadow", 100)
    assert _versions(api, approver)["2"]["candidate"] is True
    key = api.key("decide", "audit")
    r = api.decide(key)
    assert r.status_code == 200, r.text
    assert r.json()["strategy"]["version"] == "1"
    assert r.json()["decision"]["decision"] == "approve"
    assert "shadow" not in r.json()

    full = api.client.get(f"/v1/decisions/{r.json()['id']}", headers=key.headers).json()
    assert full["strategy"]["version"] == "1"
    shadow = full["shadow"]
    assert shadow["strategy"]["version"] == "2"
    assert shadow["decision"] == "decline"
    assert "AGE_BELOW_MIN" in shadow["reasons"]

    rep = api.client.post(f"/v1/decisions/{r.json()['id']}/replay", headers=key.headers).json()
    assert rep["identical"] is True
    assert rep["shadow_identical"] is True
    assert rep["strategy"]["version"] == "1"
    assert rep["decision"]["decision"] == "approve"

    metrics = api.client.get("/metrics").text
    assert 'fengkong_shadow_decisions_total{outcome="decline",strategy="consumer_loan",' \
           'version="2"} 1.0' in metrics

    # Stopping the candidate stops the shadow decisions.
    dep = _candidate(api, approver, version=None)
    assert dep["candidate_version"] is None
    r = api.decide(key)
    assert "shadow" not in api.client.get(f"/v1/decisions/{r.json()['id']}",
                                          headers=key.headers).json()


def test_shadow_at_zero_percent_sees_nothing(api: Any, pack: Any) -> None:
    _, approver = _approved_v2(api, pack)
    _candidate(api, approver, version="2", mode="shadow", percent=0)
    key = api.key("decide")
    for i in range(5):
        r = api.decide(key, request_id=f"zero-{i}")
        full = api.client.get(f"/v1/decisions/{r.json()['id']}",
                              headers=api.key("audit").headers).json()
        assert "shadow" not in full
        assert full["strategy"]["version"] == "1"


def test_split_candidate_answers(api: Any, pack: Any) -> None:
    _, approver = _approved_v2(api, pack)
    dep = _candidate(api, approver, version="2", mode="split", percent=100)
    assert dep["candidate_mode"] == "split"
    key = api.key("decide", "audit")
    r = api.decide(key)
    assert r.status_code == 200, r.text
    assert r.json()["strategy"]["version"] == "2"
    assert r.json()["decision"]["decision"] == "decline"
    full = api.client.get(f"/v1/decisions/{r.json()['id']}", headers=key.headers).json()
    assert "shadow" not in full
    assert full["strategy"]["version"] == "2"
    rep = api.client.post(f"/v1/decisions/{r.json()['id']}/replay", headers=key.headers).json()
    assert rep["identical"] is True
    assert rep["strategy"]["version"] == "2"
    listed = api.client.get("/v1/decisions", headers=key.headers).json()["items"]
    assert listed[0]["strategy"]["version"] == "2"
    assert listed[0]["outcome"] == "decline"
