"""The published OpenAPI document (docs/openapi.json) is the one the app serves."""

import json
from pathlib import Path

from fengkong.service import create_app

PUBLISHED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_published_openapi_is_current():
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    assert published == create_app().openapi(), (
        "docs/openapi.json is stale: run `fengkong openapi --output docs/openapi.json`")


def test_every_v1_operation_needs_a_key_and_documents_its_body():
    doc = create_app().openapi()
    ops = [(path, method, op) for path, item in doc["paths"].items()
           for method, op in item.items() if path.startswith("/v1/")]
    assert len(ops) >= 14
    for path, method, op in ops:
        assert op.get("security"), f"{method.upper()} {path} has no security requirement"
    decide = doc["paths"]["/v1/decisions/{strategy}"]["post"]
    assert "application/json" in decide["requestBody"]["content"]
    assert any(p["name"] == "X-Request-ID" for p in decide["parameters"])
    upload = doc["paths"]["/v1/strategies"]["post"]
    assert {"application/json", "application/yaml"} <= set(upload["requestBody"]["content"])
