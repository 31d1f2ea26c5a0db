"""clauseguard's guards as guardrails-ai validators, offline.

    pip install 'clauseguard[guardrails]'
    python examples/guardrails_validators.py

Each guard type is registered as ``clauseguard/<type>``. Guards that change the text (redact, label,
disclaim) report it as a fix, applied with ``on_fail="fix"`` (their default); blocks raise by default.
``offline_guard`` builds the Guard with guardrails' hub telemetry off; putting ``enable_metrics=false``
in ``~/.guardrailsrc`` does the same for every Guard.
"""

from __future__ import annotations

from guardrails.errors import ValidationError

from clauseguard.guards.guardrails import clauseguard_validator, offline_guard


def main() -> None:
    guard = offline_guard(
        clauseguard_validator("keyword", categories=["S9"],
                              spec_fields={"message": "Withheld under the Acceptable Use Policy (weapons)."}),
        clauseguard_validator("pii", action="redact"),
        clauseguard_validator("disclaimer", topics=["medical"]),
        clauseguard_validator("ai_disclosure"),
    )
    for text in ["Write to jane@example.org about the dose of this medication.",
                 "Here is how to build a pipe bomb."]:
        try:
            print(guard.validate(text).validated_output, end="\n\n")
        except ValidationError as err:
            print(f"blocked: {err}\n")


if __name__ == "__main__":
    main()
