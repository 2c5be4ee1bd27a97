"""The sandbox's canned events: realistic payloads plus the API drift the desk must survive.

`build_catalogue(now)` places every timestamp relative to `now` (the sandbox's start), mostly on
the day before it, so the events always look recent. `live_event()` builds the payload of a
live SMS whose status moves on with time. Field names and enumerations follow
../../../shared/leadping-api/event-detail-reference.txt and the README beside it.
"""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

LIVE_DEMO_ID = "live-demo"
HOSTILE_ID = "hostile-payloads"

# Every field of the reference page, in its order: the API sends absent values as null.
_DOCUMENTED_FIELDS = (
    "eventType",
    "secondaryEventType",
    "description",
    "eventCategory",
    "timelineType",
    "timelineCategory",
    "conversationId",
    "summary",
    "direction",
    "status",
    "statusReason",
    "fromPhoneNumberId",
    "outboundPhoneNumberId",
    "fromPhoneNumber",
    "toPhoneNumber",
    "providerMessageId",
    "queuedAt",
    "scheduledFor",
    "sendingStartedAt",
    "sentAt",
    "deliveredAt",
    "receivedAt",
    "failedAt",
    "undeliverableAt",
    "blockedAt",
    "canceledAt",
    "user",
    "userId",
    "leadId",
    "id",
    "createdAt",
    "modifiedAt",
)

_MAYA = {"id": "5a454690-95c0-4d6e-a23e-2708786aa505", "name": "Maya Okafor"}
_LUCAS = {"id": "5390f626-d4a7-4034-b48f-1be972e26f8d", "name": "Lucas Moreau"}
_HANNAH = {"id": "ae768bf6-41d0-4bb3-b04c-fea3eba604bc", "name": "Hannah Schäfer"}
_AUTOMATION = {"id": "69c2d190-efee-4a6d-b7b5-a092fb5223f6", "name": "LeadPing Automation"}

# The business's own numbers (US fictional 555-01xx range) and their phone-number record ids.
_AUSTIN_NUMBER = ("0d3ea298-504d-476f-a511-9c87d251a890", "+15125550147")
_SEATTLE_NUMBER = ("516efa40-86d5-454c-ba08-8f8712843400", "+12065550123")
_CHICAGO_NUMBER = ("1eaf56f3-a257-48b3-95a1-42b7acab3654", "+13125550188")

_LIVE_NAMESPACE = uuid.UUID("3549bf01-f1e0-44e4-ae97-63eaf187c5ee")
_LIVE_LEAD_ID = "84441602-85b4-4cb4-85d6-e626770e5d29"

_SCRIPT = "<script>alert(1)</script>"
_IMG = '"><img src=x onerror=alert(1)>'

DEMO_EVENTS: list[tuple[str, str]] = [
    (LIVE_DEMO_ID, "Live SMS: Pending, then In progress, then Completed as you watch"),
    ("0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70", "SMS delivered to a UK number"),
    ("d2649cf6-984d-4eae-912c-3c555e787c80", "SMS received from a French number"),
    ("f02164fc-b014-4d38-9b69-c3dd8323e6fc", "MMS to a German number that failed"),
    ("c69d73c1-8b69-46f5-97f3-6d432ed3b294", "SMS to a Japanese number, undeliverable"),
    ("a22c17aa-0ef1-42cb-ab59-8fa2280d3689", "SMS to a Brazilian number, blocked after STOP"),
    ("96bbcb0b-9908-4857-9bb2-068d8d4a7edb", "Call to an Australian number, canceled"),
    ("e8fb21ee-3343-4b21-bd62-cac7470da542", "SMS scheduled for two days from now"),
    ("84ab5688-1e0c-4c69-bb08-09f3d9ad11cc", "Inbound call in progress from 555-CALL-NOW"),
    ("04fc24a6-6cc1-4b44-96dd-e7603fd36269", "Voicemail left from an internal extension"),
    ("1681581b-1829-4844-a15c-6271002643ee", "Note added by an agent"),
    ("1f38a008-1df3-4112-9fa6-71b4b3dcfd9c", "Disposition set after a call"),
    ("c58836af-bdd9-4187-83c9-3be4530341b5", "Lead created (older activityType field names)"),
    ("ec20c563-a866-4f21-8123-84f872441e8d", "Lead updated, with its full payload attached"),
    ("0a936332-22c1-46b5-bd7c-417ef1be82ed", "Agent notification that carries no status"),
    ("7e09b45e-e016-4e7f-925a-4a55768a5a29", "Payment for SMS credits"),
    ("f4282277-54a6-408a-a8d7-bf8d96c1e3a3", "Number warm-up message in progress"),
    ("27be1551-8956-4a53-b3b0-a5fb60007811", "Web chat message with an empty phone number"),
    ("ec67df8e-055f-4ded-9ca5-a84a556132e7", "Sparse event: only the four required fields"),
    ("ed00d23e-d536-415e-a799-8211ffbd8dfa", "Values the reference does not list: Fax, Throttled"),
    ("1cf5ea64-67a9-4836-9859-24fc3ee79a3f", "Malformed event: unreadable timestamp, wrong types"),
    (HOSTILE_ID, "Hostile payloads: HTML and script injection in every field"),
]

_Clock = Callable[[float], str]


def build_catalogue(now: datetime) -> dict[str, dict[str, Any]]:
    """Every canned event keyed by its id, timestamps placed relative to `now`."""
    now = _as_utc(now).replace(microsecond=0)
    day_before = now - timedelta(days=1)

    def at(minutes: float) -> str:
        return isoformat_z(day_before + timedelta(minutes=minutes))

    events = [
        *_messages(at, now),
        *_calls(at),
        *_lead_activity(at),
        *_drift(at),
        _hostile(at),
    ]
    return {event["id"]: event for event in events}


def live_event(
    event_id: str, *, started_at: datetime, elapsed: float, live_seconds: float
) -> dict[str, Any]:
    """A live outbound SMS `elapsed` seconds after its first fetch."""
    third = live_seconds / 3
    sending_started = started_at + timedelta(seconds=third) if elapsed >= third else None
    sent = started_at + timedelta(seconds=2 * third) if elapsed >= 2 * third else None
    status = "Completed" if sent else "InProgress" if sending_started else "Pending"
    latest = sent or sending_started or started_at
    return _event(
        eventType="SmsSent",
        secondaryEventType="CampaignStep",
        description="Appointment reminder sent by the Ridgeview Dental reminders campaign.",
        eventCategory="Messaging",
        timelineType="Sms",
        timelineCategory="Communication",
        conversationId=str(uuid.uuid5(_LIVE_NAMESPACE, f"{event_id}/conversation")),
        summary=(
            "Hi Dana, this is Ridgeview Dental confirming your cleaning tomorrow at 10:30am. "
            "Reply C to confirm or R to reschedule."
        ),
        direction="Outbound",
        status=status,
        fromPhoneNumberId=_AUSTIN_NUMBER[0],
        outboundPhoneNumberId=_AUSTIN_NUMBER[0],
        fromPhoneNumber=_AUSTIN_NUMBER[1],
        toPhoneNumber="+17375550192",
        # LeadPing learns the carrier's message id once it hands the message over.
        providerMessageId=(
            str(uuid.uuid5(_LIVE_NAMESPACE, f"{event_id}/message")) if sending_started else None
        ),
        queuedAt=isoformat_z(started_at),
        sendingStartedAt=_iso_or_none(sending_started),
        sentAt=_iso_or_none(sent),
        deliveredAt=_iso_or_none(sent),
        user=_AUTOMATION,
        userId=_AUTOMATION["id"],
        leadId=_LIVE_LEAD_ID,
        id=event_id,
        createdAt=isoformat_z(started_at),
        modifiedAt=isoformat_z(latest),
    )


def isoformat_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, with milliseconds only when there is a fraction."""
    moment = _as_utc(moment).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds") + "Z"


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso_or_none(moment: datetime | None) -> str | None:
    return isoformat_z(moment) if moment else None


def _event(*, omit: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A payload with every documented field (null unless given), minus the `omit`ted ones."""
    payload: dict[str, Any] = dict.fromkeys(_DOCUMENTED_FIELDS)
    payload.update(fields)
    for name in omit:
        del payload[name]
    return payload


def _messages(at: _Clock, now: datetime) -> list[dict[str, Any]]:
    """SMS and MMS: delivered, received, failed, undeliverable, blocked and scheduled."""
    return [
        _event(
            eventType="SmsSent",
            secondaryEventType="ManualSend",
            description="Text message sent by an agent from the lead's conversation.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            conversationId="3f396a72-31d7-4646-9359-821077207869",
            summary="Hi Oliver, thanks for your enquiry about the Clapham flat. Are you free for "
            "a viewing on Thursday at 6pm?",
            direction="Outbound",
            status="Completed",
            fromPhoneNumberId=_AUSTIN_NUMBER[0],
            outboundPhoneNumberId=_AUSTIN_NUMBER[0],
            fromPhoneNumber=_AUSTIN_NUMBER[1],
            toPhoneNumber="+447400123456",
            providerMessageId="762c92fd-b69e-4120-be5a-cc953120f3a3",
            queuedAt=at(-240),
            sendingStartedAt=at(-239),
            sentAt=at(-238),
            deliveredAt=at(-236),
            user=_MAYA,
            userId=_MAYA["id"],
            leadId="fa4f8e73-9938-418d-96d9-48aaded2169a",
            id="0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70",
            createdAt=at(-240),
            modifiedAt=at(-236),
        ),
        _event(
            eventType="SmsReceived",
            secondaryEventType="Reply",
            description="Text message received from a lead.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            conversationId="cc5b1409-d3a0-4090-acb6-95893888e359",
            summary="Bonjour, oui je suis disponible demain matin pour en discuter. Merci !",
            direction="Inbound",
            status="Completed",
            fromPhoneNumber="+33612345678",
            toPhoneNumber=_SEATTLE_NUMBER[1],
            outboundPhoneNumberId=_SEATTLE_NUMBER[0],
            providerMessageId="bfbdf64e-032f-4033-bbf5-a369b986f25a",
            receivedAt=at(-210),
            user=_LUCAS,
            userId=_LUCAS["id"],
            leadId="fbb7e161-1739-417f-ad2e-81e51db1ae1b",
            id="d2649cf6-984d-4eae-912c-3c555e787c80",
            createdAt=at(-210),
            modifiedAt=at(-210),
        ),
        _event(
            eventType="MmsSent",
            secondaryEventType="ManualSend",
            description="Picture message sent by an agent with a floor plan attached.",
            eventCategory="Messaging",
            timelineType="Mms",
            timelineCategory="Communication",
            conversationId="f78a3b7d-4891-4995-9ad9-602c3ebbd817",
            summary="Hier ist der Grundriss der Wohnung in Prenzlauer Berg (siehe Anhang).",
            direction="Outbound",
            status="Failed",
            statusReason="The carrier rejected the media: the 4.2 MB attachment exceeds the "
            "1 MB MMS limit for this destination.",
            fromPhoneNumberId=_SEATTLE_NUMBER[0],
            outboundPhoneNumberId=_SEATTLE_NUMBER[0],
            fromPhoneNumber=_SEATTLE_NUMBER[1],
            toPhoneNumber="+4915123456789",
            providerMessageId="875d1576-d03f-4920-84a8-4d3278f8f176",
            queuedAt=at(-180),
            sendingStartedAt=at(-179),
            failedAt=at(-177),
            user=_HANNAH,
            userId=_HANNAH["id"],
            leadId="81dec35a-3d50-45df-80ad-c3221a92ff91",
            id="f02164fc-b014-4d38-9b69-c3dd8323e6fc",
            createdAt=at(-180),
            modifiedAt=at(-177),
        ),
        _event(
            eventType="SmsSent",
            secondaryEventType="CampaignStep",
            description="Follow-up text sent by the 'New enquiry' campaign, step 2.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            conversationId="8d124b7c-8f95-46a8-a7ce-fa9392bfa02c",
            summary="Hello Sato-san, just checking you received our quote for the Osaka office "
            "move. Happy to answer any questions.",
            direction="Outbound",
            status="Failed",
            statusReason="Undeliverable: the destination carrier reported the handset as "
            "unreachable for 72 hours.",
            fromPhoneNumberId=_AUSTIN_NUMBER[0],
            outboundPhoneNumberId=_AUSTIN_NUMBER[0],
            fromPhoneNumber=_AUSTIN_NUMBER[1],
            toPhoneNumber="+819012345678",
            providerMessageId="6beca5db-4c44-438e-828b-82f2eae959e0",
            queuedAt=at(-150),
            sendingStartedAt=at(-149),
            sentAt=at(-148),
            undeliverableAt=at(-143),
            user=_AUTOMATION,
            userId=_AUTOMATION["id"],
            leadId="f3be23a4-b6fe-49a3-bf86-ba427b457b9f",
            id="c69d73c1-8b69-46f5-97f3-6d432ed3b294",
            createdAt=at(-150),
            modifiedAt=at(-143),
        ),
        _event(
            eventType="SmsSent",
            secondaryEventType="CampaignStep",
            description="Reminder text held back by LeadPing's opt-out protection.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            conversationId="0723f7b0-7cfa-4523-8368-2dab303254ca",
            summary="Olá João, sua proposta de financiamento vence amanhã. Podemos conversar?",
            direction="Outbound",
            status="Failed",
            statusReason="Blocked: the recipient replied STOP on an earlier message; sending "
            "resumes only after they reply START.",
            fromPhoneNumberId=_SEATTLE_NUMBER[0],
            outboundPhoneNumberId=_SEATTLE_NUMBER[0],
            fromPhoneNumber=_SEATTLE_NUMBER[1],
            toPhoneNumber="+5511912345678",
            queuedAt=at(-120),
            blockedAt=at(-120),
            user=_AUTOMATION,
            userId=_AUTOMATION["id"],
            leadId="c41ca6dc-ef5c-4828-b27f-05522c1d760e",
            id="a22c17aa-0ef1-42cb-ab59-8fa2280d3689",
            createdAt=at(-120),
            modifiedAt=at(-120),
        ),
        _event(
            eventType="SmsScheduled",
            secondaryEventType="ManualSend",
            description="Text message scheduled by an agent for the lead's preferred time.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            conversationId="746594e6-a5a0-4b41-8d73-900c2e25c5e9",
            summary="Morning Priya! As promised, here's the link to book your roof inspection: "
            "https://book.example.com/r/8841",
            direction="Outbound",
            status="Pending",
            fromPhoneNumberId=_CHICAGO_NUMBER[0],
            outboundPhoneNumberId=_CHICAGO_NUMBER[0],
            fromPhoneNumber=_CHICAGO_NUMBER[1],
            toPhoneNumber="+14155550171",
            scheduledFor=isoformat_z(now + timedelta(days=2)),
            user=_MAYA,
            userId=_MAYA["id"],
            leadId="3faa3f99-38b1-499f-95d2-32a0b13c85b2",
            id="e8fb21ee-3343-4b21-bd62-cac7470da542",
            createdAt=at(-90),
            modifiedAt=at(-90),
        ),
    ]


def _calls(at: _Clock) -> list[dict[str, Any]]:
    """Calls and voicemail, with numbers that will not parse."""
    return [
        _event(
            eventType="CallStarted",
            secondaryEventType="ClickToCall",
            description="Outbound call placed by an agent from the lead page.",
            eventCategory="Calls",
            timelineType="Call",
            timelineCategory="Communication",
            conversationId="db4be8e0-5b79-4dc3-aca1-ca858607e18f",
            summary="Call to discuss the Bondi Beach rental application.",
            direction="Outbound",
            status="Cancelled",
            statusReason="The agent hung up after 38 seconds of ringing, before the lead answered.",
            fromPhoneNumberId=_SEATTLE_NUMBER[0],
            outboundPhoneNumberId=_SEATTLE_NUMBER[0],
            fromPhoneNumber=_SEATTLE_NUMBER[1],
            toPhoneNumber="+61491570156",
            providerMessageId="v3:Tq0bL4xk2yJm8WnR5sVc7pQeZ1aH6dFg9uNiKoE3",
            queuedAt=at(-75),
            sendingStartedAt=at(-75),
            canceledAt=at(-74),
            user=_LUCAS,
            userId=_LUCAS["id"],
            leadId="13ed347e-e5fd-420d-9534-e101867a8d0d",
            id="96bbcb0b-9908-4857-9bb2-068d8d4a7edb",
            createdAt=at(-75),
            modifiedAt=at(-74),
        ),
        _event(
            eventType="CallReceived",
            secondaryEventType="Inbound",
            description="Inbound call ringing the sales team's hunt group.",
            eventCategory="Calls",
            timelineType="Call",
            timelineCategory="Communication",
            conversationId="57fe6b59-9924-4b7c-a177-3b9a3aef1cc7",
            summary="Caller ID shows a vanity number; the carrier passed no digits.",
            direction="Inbound",
            status="InProgress",
            fromPhoneNumber="555-CALL-NOW",
            toPhoneNumber=_CHICAGO_NUMBER[1],
            outboundPhoneNumberId=_CHICAGO_NUMBER[0],
            providerMessageId="v3:8hYc2KpW0rLq5ZmT1xBn7sVd4gJf6aQe3uNoRi9E",
            receivedAt=at(-60),
            user=_HANNAH,
            userId=_HANNAH["id"],
            leadId="fb45cbcf-39d6-435d-ab20-bfc08b970bce",
            id="84ab5688-1e0c-4c69-bb08-09f3d9ad11cc",
            createdAt=at(-60),
            modifiedAt=at(-59),
        ),
        _event(
            eventType="VoicemailReceived",
            secondaryEventType="Transfer",
            description="Voicemail left after a transfer from the front desk.",
            eventCategory="Calls",
            timelineType="Voicemail",
            timelineCategory="Communication",
            conversationId="c45aacda-98b5-4908-87da-ffccafe0c1c6",
            summary="Hi, it's Rosa from reception, transferring Mr Delgado who wants a callback "
            "about the solar panel quote. (0:42)",
            direction="Inbound",
            status="Completed",
            fromPhoneNumber="ext. 12",
            toPhoneNumber=_AUSTIN_NUMBER[1],
            outboundPhoneNumberId=_AUSTIN_NUMBER[0],
            providerMessageId="v3:Zx4Ck9Lm2Qw7Er5Ty1Ui8Op3As6Df0Gh4Jk7Lz2X",
            receivedAt=at(-45),
            user=_MAYA,
            userId=_MAYA["id"],
            leadId="be569f48-f7a9-4393-88f3-2b21cd07f72b",
            id="04fc24a6-6cc1-4b44-96dd-e7603fd36269",
            createdAt=at(-45),
            modifiedAt=at(-44),
        ),
    ]


def _lead_activity(at: _Clock) -> list[dict[str, Any]]:
    """Notes, dispositions, lead changes, notifications, payments, warm-up and web chat."""
    return [
        _event(
            eventType="NoteAdded",
            description="Private note added to the lead by an agent.",
            eventCategory="Notes",
            timelineType="Note",
            timelineCategory="Activity",
            summary="Lead prefers calls after 5pm CET. Decision maker is her business partner, "
            "Jonas; send the proposal to both.",
            status="Completed",
            user=_HANNAH,
            userId=_HANNAH["id"],
            leadId="81dec35a-3d50-45df-80ad-c3221a92ff91",
            id="1681581b-1829-4844-a15c-6271002643ee",
            createdAt=at(-30),
            modifiedAt=at(-28),
        ),
        _event(
            eventType="DispositionSet",
            secondaryEventType="AfterCall",
            description="Call outcome recorded by the agent.",
            eventCategory="Dispositions",
            timelineType="Disposition",
            timelineCategory="Activity",
            conversationId="db4be8e0-5b79-4dc3-aca1-ca858607e18f",
            summary="Appointment booked: site visit on Friday, 9:00am.",
            status="Completed",
            user=_LUCAS,
            userId=_LUCAS["id"],
            leadId="13ed347e-e5fd-420d-9534-e101867a8d0d",
            id="1f38a008-1df3-4112-9fa6-71b4b3dcfd9c",
            createdAt=at(-20),
            modifiedAt=at(-20),
        ),
        # An older version of the reference page names these two fields activityType and
        # activityCategory instead of timelineType and timelineCategory.
        _event(
            omit=("timelineType", "timelineCategory"),
            activityType="LeadCreated",
            activityCategory="Lead",
            eventType="LeadCreated",
            secondaryEventType="WebForm",
            description="Lead created from the 'Free quote' form on the website.",
            eventCategory="Leads",
            summary="Zoë Marchetti asked for a quote for a kitchen renovation in Austin, TX.",
            status="Completed",
            fromPhoneNumber="+17375550192",
            user=_AUTOMATION,
            userId=_AUTOMATION["id"],
            leadId="f21f37f0-a5a7-4ec3-9f89-f4e17df27ff8",
            id="c58836af-bdd9-4187-83c9-3be4530341b5",
            createdAt=at(-300),
            modifiedAt=at(-300),
        ),
        _event(
            eventType="LeadUpdated",
            secondaryEventType="StageChanged",
            description="Lead moved to a new pipeline stage and tagged.",
            eventCategory="Leads",
            timelineType="LeadUpdated",
            timelineCategory="Lead",
            summary="Stage: Contacted → Qualified; tags added: kitchen, high-intent.",
            status="Completed",
            user=_MAYA,
            userId=_MAYA["id"],
            leadId="f21f37f0-a5a7-4ec3-9f89-f4e17df27ff8",
            id="ec20c563-a866-4f21-8123-84f872441e8d",
            createdAt=at(-15),
            modifiedAt=at(-15),
            # Documented by an older version of the page: the whole payload as a JSON string.
            fullPayload=json.dumps(
                {
                    "leadId": "f21f37f0-a5a7-4ec3-9f89-f4e17df27ff8",
                    "changes": {
                        "stage": {"from": "Contacted", "to": "Qualified"},
                        "tags": {"added": ["kitchen", "high-intent"], "removed": []},
                        "customFields": {"budget": {"from": None, "to": "25000-40000 USD"}},
                    },
                    "source": {"kind": "agent", "userId": _MAYA["id"], "app": "web"},
                },
                ensure_ascii=False,
            ),
        ),
        # The newest version of the page drops `status` from its field list.
        _event(
            omit=("status",),
            eventType="NotificationSent",
            secondaryEventType="NewReply",
            description="Push notification sent to the assigned agent's phone.",
            eventCategory="Notifications",
            timelineType="Notification",
            timelineCategory="System",
            conversationId="cc5b1409-d3a0-4090-acb6-95893888e359",
            summary='New reply from +33 6 12 34 56 78: "Bonjour, oui je suis disponible…"',
            sentAt=at(-209),
            deliveredAt=at(-209),
            user=_LUCAS,
            userId=_LUCAS["id"],
            leadId="fbb7e161-1739-417f-ad2e-81e51db1ae1b",
            id="0a936332-22c1-46b5-bd7c-417ef1be82ed",
            createdAt=at(-209),
            modifiedAt=at(-209),
        ),
        _event(
            eventType="PaymentSucceeded",
            secondaryEventType="CreditTopUp",
            description="Messaging credits bought with the card on file.",
            eventCategory="Billing",
            timelineType="Payment",
            timelineCategory="Billing",
            summary="Charged $49.00 to Visa ending 4242 for 1,000 SMS credits.",
            status="Completed",
            providerMessageId="pi_3QxT8bLkd92KfA0c1nZ7pR4e",
            user=_AUTOMATION,
            userId=_AUTOMATION["id"],
            id="7e09b45e-e016-4e7f-925a-4a55768a5a29",
            createdAt=at(-360),
            modifiedAt=at(-359),
        ),
        _event(
            eventType="WarmupMessageSent",
            secondaryEventType="WarmupDay3",
            description="Warm-up message 12 of 40 for a newly registered number.",
            eventCategory="Warmup",
            timelineType="Warmup",
            timelineCategory="System",
            conversationId="7ae23004-53a5-4929-80f5-625dc5683bda",
            summary="Hey! Quick reminder that our team is here to help if you need anything.",
            direction="Outbound",
            status="InProgress",
            fromPhoneNumberId=_CHICAGO_NUMBER[0],
            outboundPhoneNumberId=_CHICAGO_NUMBER[0],
            fromPhoneNumber=_CHICAGO_NUMBER[1],
            toPhoneNumber="+13125550111",
            providerMessageId="61550c8b-11b5-436e-bd65-25eb492413f5",
            queuedAt=at(-5),
            sendingStartedAt=at(-4),
            user=_AUTOMATION,
            userId=_AUTOMATION["id"],
            id="f4282277-54a6-408a-a8d7-bf8d96c1e3a3",
            createdAt=at(-5),
            modifiedAt=at(-4),
        ),
        _event(
            eventType="WebChatMessageSent",
            secondaryEventType="ManualSend",
            description="Reply sent through the website chat widget.",
            eventCategory="Messaging",
            timelineType="Message",
            timelineCategory="Communication",
            conversationId="1d709a22-0ee0-41ad-b15e-e571ba9b826b",
            summary="Sure! Our showroom on South Lamar is open until 7pm today.",
            direction="Outbound",
            status="Completed",
            fromPhoneNumber="",
            toPhoneNumber="",
            queuedAt=at(10),
            sentAt=at(10),
            deliveredAt=at(11),
            user=_MAYA,
            userId=_MAYA["id"],
            leadId="1d013921-7ff2-45f1-9ddb-30948f26b78e",
            id="27be1551-8956-4a53-b3b0-a5fb60007811",
            createdAt=at(10),
            modifiedAt=at(11),
        ),
    ]


def _drift(at: _Clock) -> list[dict[str, Any]]:
    """Payloads that stretch the contract: sparse, unknown enum values, malformed fields."""
    return [
        # Every field but the four required ones may be null (README, "The endpoint").
        _event(
            eventType="SmsSent",
            userId=_AUTOMATION["id"],
            id="ec67df8e-055f-4ded-9ca5-a84a556132e7",
            createdAt=at(20),
        ),
        # New enumeration values may appear at any time (README, "Enumerations").
        _event(
            eventType="FaxQueued",
            secondaryEventType="Efax",
            description="Signed contract faxed to the lead's office.",
            eventCategory="Documents",
            timelineType="Fax",
            timelineCategory="Documents",
            summary="Contract_v3_signed.pdf (4 pages) queued behind 3 other faxes.",
            direction="Outbound",
            status="Throttled",
            statusReason="Carrier throughput limit reached; LeadPing retries in 10 minutes.",
            fromPhoneNumber="+4930901820",
            toPhoneNumber="+442079460958",
            queuedAt=at(30),
            user=_HANNAH,
            userId=_HANNAH["id"],
            leadId="2d1badf4-b15c-4621-93e7-ccad9540251f",
            id="ed00d23e-d536-415e-a799-8211ffbd8dfa",
            createdAt=at(30),
            modifiedAt=at(31),
        ),
        _event(
            eventType="SmsSent",
            description="An event as a buggy integration might have written it.",
            eventCategory="Messaging",
            timelineType="Sms",
            timelineCategory="Communication",
            summary=42,
            direction="Outbound",
            status="Completed",
            fromPhoneNumber=_AUSTIN_NUMBER[1],
            toPhoneNumber="+15125550100",
            queuedAt=at(40),
            sentAt="yesterday-ish",
            # .NET's DateTime.MinValue, as an unset date can leak out of C# services.
            deliveredAt="0001-01-01T00:00:00",
            user="bob",
            userId=_LUCAS["id"],
            leadId="4323df88-4eb6-4be3-9641-b483d953984a",
            id="1cf5ea64-67a9-4836-9859-24fc3ee79a3f",
            createdAt=at(40),
            modifiedAt=at(41),
        ),
    ]


def _hostile(at: _Clock) -> dict[str, Any]:
    """Injection payloads in every string field: the desk must show them as inert text."""
    long_summary = (_SCRIPT + " " + _IMG + " {{ 7*7 }} ") * 100
    return _event(
        eventType=_SCRIPT,
        secondaryEventType=_IMG,
        description="{{ 7*7 }} {% debug %} ${7*7} <%= 7*7 %> #{7*7}",
        eventCategory="<svg/onload=alert(1)>",
        timelineType="Sms<script>alert(1)</script>",
        timelineCategory="</style><style>*{display:none}</style>",
        conversationId="javascript:alert(document.domain)",
        summary=long_summary[:5000],
        direction='Outbound" onmouseover="alert(1)',
        status="<b onclick=alert(1)>Completed</b>",
        # U+202E reverses the text after it, so the file name displays as "invoice-exe.pdf".
        statusReason="Rejected invoice-\u202efdp.exe </textarea><script>alert(1)</script>",
        fromPhoneNumberId="' OR '1'='1",
        outboundPhoneNumberId="../../../../etc/passwd%00",
        fromPhoneNumber="javascript:alert(1)",
        toPhoneNumber="+1 <script>alert(1)</script>",
        providerMessageId="%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        queuedAt=at(50),
        sentAt=at(51),
        user={"id": _IMG, "name": "Robert'); DROP TABLE users;-- <b>bold</b>"},
        userId="{{ settings.SECRET_KEY }}",
        leadId="\x1b[2J\x1b[31mlead\x07",
        id=HOSTILE_ID,
        createdAt=at(50),
        modifiedAt=at(51),
        fullPayload=json.dumps({"html": _SCRIPT, "nested": {"img": _IMG, "tpl": "{{ 7*7 }}"}}),
    )
