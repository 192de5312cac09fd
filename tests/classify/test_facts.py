"""What the rules read of a result: every text cut and made valid text (NUL, lone surrogates)."""

from __future__ import annotations

import pytest

from reconciler.classify.facts import rule_facts
from reconciler.records import MessageKind, ParsedBounce
from reconciler.validtext import REPLACEMENT, valid_text


@pytest.mark.parametrize(
    "diagnostic",
    ["550 user unknown", "550 nul\x00here", "550 lone \udcff half", "550 é ok", "", "x" * 5000],
)
def test_diagnostic_facts_are_the_valid_text_of_the_cut(diagnostic: str) -> None:
    bounce = ParsedBounce(
        MessageKind.BOUNCE, "a@example.org", "test", diagnostic=diagnostic, remote_mta="\x00mx"
    )
    facts = rule_facts(bounce)
    assert facts.diagnostic == valid_text(diagnostic[:4000])
    assert "\x00" not in facts.diagnostic and len(facts.diagnostic) == min(len(diagnostic), 4000)
    assert facts.remote_mta == f"{REPLACEMENT}mx"
    facts.diagnostic.encode("utf-8")  # never raises
