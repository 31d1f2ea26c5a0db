"""A Gradio chat whose prompts and answers go through clauseguard's guards.

    pip install 'clauseguard[gradio]'
    python examples/gradio_chat.py                  # demo guards
    python examples/gradio_chat.py legal/guards.yaml  # the guards.yaml `clauseguard generate` wrote

The chat function stands in for a model: it streams the answer as Gradio expects (the whole text so
far at each step). guard_chat checks the prompt, holds back any text the output guards have not seen,
and keys rate limits to the logged-in user or the client's address, pseudonymised. It checks the
history the browser sends back as well (its newest 200 messages; history_messages= and history_chars=
change that), without recording it again. Images in an answer that would load from another host (a way
to send the chat to an attacker after a prompt injection) are shown as text naming the host: list the
hosts your answers may show images from in allowed_hosts=. Behind a reverse proxy, name it in
CLAUSEGUARD_TRUSTED_PROXIES (e.g. 10.0.0.0/8) so that its X-Forwarded-For is believed; otherwise the
peer's address is used.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import gradio as gr

from clauseguard.guards import Pipeline, parse_guards
from clauseguard.guards.gradio import guard_chat

DEMO_GUARDS = """
- {id: weapons-in, type: keyword, stage: input, params: {categories: [S9]},
   message: "This request is refused under the Acceptable Use Policy (weapons)."}
- {id: pii-in, type: pii, stage: input, on_fail: redact}
- {id: weapons-out, type: keyword, stage: output, params: {categories: [S9]},
   message: "The answer was withheld under the Acceptable Use Policy (weapons)."}
- {id: pii-out, type: pii, stage: output, on_fail: redact}
- {id: ai-disclosure, type: ai_disclosure, stage: output, on_fail: label}
"""


def load_pipeline(argv: list[str]) -> Pipeline:
    return Pipeline.from_yaml(argv[1]) if len(argv) > 1 else Pipeline(parse_guards(DEMO_GUARDS, "demo"))


def respond(message: str, history: list[dict[str, str]]) -> Iterator[str]:
    """A stand-in model: repeats the message word by word."""
    text = ""
    for word in f"You wrote: {message}".split():
        text += word + " "
        yield text


demo = gr.ChatInterface(guard_chat(respond, load_pipeline(sys.argv), allowed_hosts=()), title="Guarded chat")

if __name__ == "__main__":
    demo.launch()
