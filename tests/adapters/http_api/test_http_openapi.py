"""The OpenAPI document, and that the response models say what the handlers send."""

from __future__ import annotations

import dataclasses

import pytest

from modbot_adapters.http_api.responses import CallbackPayload, ReplyOut, VerdictOut
from modbot_adapters.http_api.sink import callback_payload
from modbot.domain import Action, ActionKind, Decision, Stage, Verdict
from modbot.domain.commands import Reply
from tests.adapters.http_api.harness import Api, ref

PATHS = {
    "/v1/healthz",
    "/v1/openapi.json",
    "/v1/servers/{server_id}/messages",
    "/v1/servers/{server_id}/messages/{message_id}/verdict",
    "/v1/servers/{server_id}/commands",
    "/v1/servers/{server_id}/cases/{case_id}/review",
    "/v1/servers/{server_id}/cases/{case_id}/actions",
}


async def test_openapi_json_is_served_without_a_token_and_lists_every_path(api: Api):
    async with api.as_token(None) as anonymous:
        answer = await anonymous.get("/v1/openapi.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == PATHS
    schemas = document["components"]["schemas"]
    assert {"MessageIn", "CommandIn", "ReviewIn", "IntakeOut", "VerdictOut", "ReplyOut", "ErrorOut", "CallbackPayload"} <= set(schemas)
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert document["webhooks"]["action"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallbackPayload"
    }
    assert schemas["MessageIn"]["properties"]["message_id"]["maxLength"] == 64
    # Every reference points at a schema that is there.
    text = answer.text
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


def test_the_document_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator")
    from modbot_adapters.http_api.openapi import openapi_document

    validator.validate(openapi_document())


def test_the_response_models_match_the_domain_shapes():
    verdict = Verdict(Decision.REMOVE, Stage.KEYWORD, "v1", rule_ids=("SC1",))
    assert set(VerdictOut.model_fields) == set(verdict.to_public_dict())
    VerdictOut.model_validate(verdict.to_public_dict())
    assert set(ReplyOut.model_fields) == {f.name for f in dataclasses.fields(Reply)}
    payload = callback_payload(Action(ActionKind.WARN, ref(), member_notice="• SC1"), "k")
    assert set(CallbackPayload.model_fields) == set(payload.model_dump())
    assert payload.member_notice == "• SC1"
