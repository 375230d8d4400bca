"""The five webhooks Chatlio sends, with a sample payload of each in the shape Chatlio documents.

Chatlio's pages (``chatlio.com/docs/webhooks``, ``/docs/chat-transcripts-v1``) show three
shapes: one for "new conversation started", "visitor left feedback" and "unanswered visitor
message" (``visitor{...}``, ``message``, ``conversationUUID``, ``channelId``,
``slackChannelName``, ``slackChannelId``); the offline message adds ``name``, ``email``,
``emailPretty``; the transcript is flat (``agentEmail``, ``messages[]``, ``startedAt``,
``endedAt``, ``visitorEmail``, ...). A payload names neither its event nor a signature: the
flow's mapping is chosen per event type when connecting (``--object``).

The sample values are our own; only the shapes follow Chatlio's documentation.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

JSON = dict[str, Any]


@frozen
class Event:
    """One kind of webhook: its key (``--object``), title and a sample payload."""

    key: str
    title: str
    description: str
    sample: JSON


_VISITOR: JSON = {
    "email": "ada@example.com",
    "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257",
    "name": "Ada Lovelace",
    "identUserId": "user-1815",
    "identTraits": '{"plan":"pro"}',
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    "handle": "london-gb-12",
    "currentPage": "https://shop.example.com/pricing",
    "referrerURL": "https://www.example.org/",
    "createdAt": "2024-05-02T10:15:02.120000+01:00",
    "IPAddress": "198.51.100.23",
    "location": "London, England, United Kingdom",
}

_CONVERSATION: JSON = {
    "visitor": _VISITOR,
    "message": "Hello, does the pro plan include exports?",
    "conversationUUID": "e3d1800d-2d9e-4966-4500-9ff986cfa197",
    "channelId": "C04J7M7LCMQ",
    "slackChannelName": "aep",
    "slackChannelId": "C04JVR71WKS",
}

EVENTS: tuple[Event, ...] = (
    Event(
        key="new_conversation",
        title="New conversation has started",
        description="A visitor opened a chat; sent with the first message.",
        sample=_CONVERSATION,
    ),
    Event(
        key="offline_message",
        title="Offline message",
        description="A visitor left a message while no agent was online.",
        sample={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "emailPretty": '"Ada Lovelace" <ada@example.com>',
            "message": "Please call me back about the pro plan.",
            "visitor": {k: v for k, v in _VISITOR.items() if k != "location"},
        },
    ),
    Event(
        key="transcript",
        title="Chat transcript",
        description="The whole conversation, sent when it ends (or on send-to-webhook).",
        sample={
            "agentEmail": "grace@example.com",
            "agentName": "Grace Hopper",
            "archiveUrl": "https://example.slack.com/archives/cl-london-gb-12",
            "extraData": ["campaign-42"],
            "channelId": "C04J7M7LCMQ",
            "channelName": "london-gb-12",
            "conversationUUID": "e3d1800d-2d9e-4966-4500-9ff986cfa197",
            "startedAt": "2024-05-02T10:15:10.560106+01:00",
            "endedAt": "2024-05-02T10:21:42.000026941+01:00",
            "htmlBody": "<p><b>london-gb-12</b>: Hello, does the pro plan include exports?</p>",
            "textBody": "london-gb-12: Hello, does the pro plan include exports?\n"
            "Grace H.: It does: CSV and JSON.",
            "messages": [
                {
                    "text": "Hello, does the pro plan include exports?",
                    "ts": "1714641310.000005",
                    "sentAt": "2024-05-02T10:15:10.000005006+01:00",
                    "userId": "",
                    "username": "london-gb-12",
                    "isVisitorMsg": True,
                },
                {
                    "text": "It does: CSV and JSON.",
                    "ts": "1714641327.000007",
                    "sentAt": "2024-05-02T10:15:27.000006914+01:00",
                    "userId": "U0N2GKA2G",
                    "username": "Grace H.",
                    "isVisitorMsg": False,
                },
            ],
            "visitorEmail": "ada@example.com",
            "replyToEmail": "ada@example.com",
            "visitorName": "london-gb-12",
            "visitorTraits": {"current_page": "https://shop.example.com/pricing"},
        },
    ),
    Event(
        key="unanswered",
        title="Visitor did not get an answer in time",
        description="No agent answered the visitor within the widget's wait time.",
        sample={**_CONVERSATION, "message": "Is anyone there?"},
    ),
    Event(
        key="feedback",
        title="Visitor left feedback after a chat",
        description="The visitor's feedback once the chat ended.",
        sample={**_CONVERSATION, "message": "Quick and helpful, thank you!"},
    ),
)

BY_KEY = {e.key: e for e in EVENTS}


def event(key: str) -> Event | None:
    """The event called ``key``, or None."""
    return BY_KEY.get(key)


def schema_of(value: Any) -> JSON:
    """The JSON schema of a sample value: objects with their properties, arrays with the
    schema of their first item, and the JSON type of anything else."""
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: schema_of(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"type": "array", "items": schema_of(value[0]) if value else {}}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    if value is None:
        return {"type": "null"}
    return {"type": "string"}
