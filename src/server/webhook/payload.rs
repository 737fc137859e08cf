//! Reading a delivery: bytes → the list of things it reports, in one shape whatever the
//! wire format (Kapso v2 single, Kapso v2 batch, or Meta's own format forwarded by Kapso).
//!
//! This module does no I/O and never panics on any input (a property test feeds it
//! arbitrary bytes). A delivery of the wrong shape is refused as a whole with the JSON
//! path of the first problem, e.g. `data[1].message.id: expected a string, found a number`.
//! Fields that are merely absent are tolerated: real payloads often omit `from`,
//! `phone_number` or `wa_id`. What only decorates a message (its type-specific part:
//! `text`, `image`, `contacts`…, and `context`) is read leniently: an unknown type or an
//! unexpected shape there gets a readable placeholder, never a refusal, because a
//! refused delivery is retried and can get the business's webhook paused. Meta's
//! `value.errors[]` become error notices routed by `metadata.phone_number_id`.

use serde_json::{Map, Value};
use std::{collections::HashMap, fmt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    KapsoV2,
    KapsoBatch,
    Meta,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::KapsoV2 => "kapso_v2",
            Format::KapsoBatch => "kapso_v2_batch",
            Format::Meta => "meta",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub format: Format,
    /// The event named by the `X-Webhook-Event` header or the body.
    pub event: Option<String>,
    pub items: Vec<Item>,
}

/// One thing a delivery reports, routed to a workspace by `phone_number_id`.
#[derive(Clone, Debug)]
pub struct Item {
    pub phone_number_id: Option<String>,
    pub event: Event,
}

// Items live only while one delivery (at most MAX_ITEMS_PER_DELIVERY) is handled;
// boxing messages would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Event {
    /// A message, inbound (a customer wrote) or outbound (the business wrote).
    Message(MessageEvent),
    /// A delivery-status change of an outbound message (Meta `statuses[]`).
    Status(StatusEvent),
    /// A Kapso conversation changed (created / ended / inactive).
    Conversation(ConversationEvent),
    /// Understood but not acted on (an event type leadline does not use).
    Ignored { reason: String },
    /// WhatsApp reports a problem with the number or the account (Meta `value.errors[]`,
    /// e.g. 130429 "Rate limit hit"): acknowledged, logged and shown to owners, no lead.
    ErrorNotice(ErrorNotice),
}

pub use super::health::ErrorNotice;
pub use crate::server::contact_cards::SharedContact;

pub use crate::model::Direction;

/// Outbound delivery status; the order is the order statuses may advance in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    Pending = 1,
    Sent = 2,
    Delivered = 3,
    Read = 4,
    Failed = 5,
}

impl DeliveryStatus {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" | "queued" | "accepted" => DeliveryStatus::Pending,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" | "played" => DeliveryStatus::Read,
            "failed" | "undelivered" => DeliveryStatus::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// Who the customer is, as the delivery names them: every identifier it carries
/// (a phone number, a business-scoped user id, a parent one), and the labels (profile
/// name, username). Any of them may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Customer {
    pub phone: Option<String>,
    pub business_scoped_id: Option<String>,
    pub parent_business_scoped_id: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// A `system` message saying the customer now has a new identity
    /// (`user_changed_number`, `user_changed_user_id` / `user_id_update`).
    pub changed_to: Option<IdentityChange>,
}

/// The new identity a customer announced; the old one is the message's sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityChange {
    pub phone: Option<String>,
    pub business_scoped_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MessageEvent {
    pub direction: Direction,
    pub wamid: String,
    pub customer: Customer,
    pub kapso_conversation_id: Option<String>,
    pub conversation_status: Option<String>,
    pub message_type: String,
    /// The message's text: body, caption, file name, transcript…
    pub content: Option<String>,
    /// What an inbox list shows: `[Image] caption`, at most 100 characters.
    pub preview: String,
    pub media_url: Option<String>,
    pub reply_to: Option<String>,
    /// WhatsApp's timestamp, UTC milliseconds.
    pub provider_timestamp: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub status_error: Option<String>,
    /// Contact cards the customer shared (`type = "contacts"`).
    pub shared_contacts: Vec<SharedContact>,
    /// WhatsApp's `errors[]` on the message (a failed send, an unsupported type).
    pub notices: Vec<ErrorNotice>,
}

#[derive(Clone, Debug)]
pub struct StatusEvent {
    pub wamid: String,
    pub status: DeliveryStatus,
    pub error: Option<String>,
    /// The status's `errors[]` (why a send failed).
    pub notices: Vec<ErrorNotice>,
    /// The recipient's phone (`recipient_id`) and BSUID (`recipient_user_id`): the
    /// cheapest link between the two for a customer we wrote to.
    pub recipient: Customer,
}

#[derive(Clone, Debug)]
pub struct ConversationEvent {
    pub kapso_conversation_id: String,
    pub status: Option<String>,
    pub customer: Customer,
}

/// Why a delivery was refused: where in the body, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub path: String,
    pub problem: String,
    /// The delivery holds more than [`MAX_ITEMS_PER_DELIVERY`] items (413, not 400).
    pub over_limit: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ParseError {}

/// The most characters a preview keeps.
pub const PREVIEW_CHARS: usize = 100;

/// The most items (messages, statuses, error notices, batch entries, Meta changes) one
/// delivery may hold. Kapso batches and Meta deliveries hold far fewer; more is refused
/// with 413 before any of it is read, so no body can make the parser build more.
pub const MAX_ITEMS_PER_DELIVERY: usize = 1000;

/// Counts a delivery's items cheaply (array lengths only).
fn count_items(object: &Map<String, Value>) -> usize {
    let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    let mut count = len(object.get("data"));
    for entry in object.get("entry").and_then(Value::as_array).into_iter().flatten() {
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let value = change.get("value");
            count += 1 + ["messages", "statuses", "errors"]
                .iter()
                .map(|key| len(value.and_then(|v| v.get(*key))))
                .sum::<usize>();
        }
    }
    count
}

/// Reads a delivery. `event_header` is `X-Webhook-Event`, which single Kapso bodies
/// need (they carry no event name of their own).
pub fn parse(body: &[u8], event_header: Option<&str>) -> Result<Delivery, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| ParseError {
        path: String::new(),
        problem: format!("malformed JSON: {err}"),
        over_limit: false,
    })?;
    let root = At::ROOT;
    let object = as_object(&value, &root)?;
    let items = count_items(object);
    if items > MAX_ITEMS_PER_DELIVERY {
        return Err(ParseError {
            path: String::new(),
            problem: format!(
                "the delivery holds {items} items; at most {MAX_ITEMS_PER_DELIVERY} (MAX_ITEMS_PER_DELIVERY) are \
                 accepted in one delivery: send them in smaller batches"
            ),
            over_limit: true,
        });
    }
    let body_event = opt_str(object, "event", &root)?.or(opt_str(object, "type", &root)?);
    let event = event_header.map(str::trim).filter(|e| !e.is_empty()).or(body_event).map(str::to_string);

    if object.contains_key("object") || object.contains_key("entry") {
        return Ok(Delivery { format: Format::Meta, event, items: parse_meta(object, &root)? });
    }
    if object.get("batch").and_then(Value::as_bool) == Some(true) || object.contains_key("data") {
        let at = root.key("data");
        let data = object.get("data").ok_or_else(|| at.missing())?;
        let entries = as_array(data, &at)?;
        let mut items = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let at = at.index(index);
            let entry_object = as_object(entry, &at)?;
            let entry_event = opt_str(entry_object, "event", &at)?.or(event.as_deref());
            items.push(parse_v2_item(entry_object, entry_event, &at)?);
        }
        return Ok(Delivery { format: Format::KapsoBatch, event, items });
    }
    if object.contains_key("message") || object.contains_key("conversation") {
        let item = parse_v2_item(object, event.as_deref(), &root)?;
        return Ok(Delivery { format: Format::KapsoV2, event, items: vec![item] });
    }
    Err(ParseError {
        path: String::new(),
        problem: "not a Kapso or Meta webhook: expected `message`, `conversation`, `data` (batch) or \
                  `object`/`entry` (Meta) at the top level"
            .into(),
        over_limit: false,
    })
}

/// One Kapso v2 body (a single delivery, or one element of a batch's `data`).
fn parse_v2_item(object: &Map<String, Value>, event: Option<&str>, at: &At) -> Result<Item, ParseError> {
    let conversation_at = at.key("conversation");
    let conversation = opt_object(object, "conversation", at)?;
    let message_at = at.key("message");
    let message = opt_object(object, "message", at)?;

    let phone_number_id = match opt_id(object, "phone_number_id", at)? {
        Some(id) => Some(id),
        None => match conversation {
            Some(conv) => opt_id(conv, "phone_number_id", &conversation_at)?,
            None => None,
        },
    };

    let mut conversation_facts = match conversation {
        Some(conv) => Some(read_v2_conversation(conv, &conversation_at)?),
        None => None,
    };
    // Kapso's contact object, where a delivery carries one.
    if let Some(contact) = object.get("contact").and_then(Value::as_object) {
        let facts = conversation_facts.get_or_insert_with(|| ConversationFacts {
            id: None,
            status: None,
            customer: Customer::default(),
        });
        fill_identity(&mut facts.customer, contact);
    }

    let kind = event.map(classify_event).unwrap_or(EventKind::Infer);
    let event = match (kind, message) {
        (EventKind::Message(event_direction, event_status), Some(message)) => {
            Event::Message(read_v2_message(message, &message_at, event_direction, event_status, conversation_facts)?)
        }
        (EventKind::Message(..), None) => return Err(message_at.missing()),
        (EventKind::Infer, Some(message)) => {
            Event::Message(read_v2_message(message, &message_at, None, None, conversation_facts)?)
        }
        (EventKind::Conversation(_) | EventKind::Infer, _) => match conversation_facts {
            Some(facts) => match facts.id {
                Some(id) => Event::Conversation(ConversationEvent {
                    kapso_conversation_id: id,
                    status: facts.status.or(match kind {
                        EventKind::Conversation(default_status) => default_status.map(str::to_string),
                        _ => None,
                    }),
                    customer: facts.customer,
                }),
                None => return Err(conversation_at.key("id").missing()),
            },
            None => return Err(conversation_at.missing()),
        },
        (EventKind::Other(name), _) => Event::Ignored { reason: format!("event `{name}` is not used by leadline") },
    };
    Ok(Item { phone_number_id, event })
}

#[derive(Clone, Copy)]
enum EventKind<'a> {
    /// A message event; `Some(direction)` when the event name says which way, and the
    /// status it implies for outbound messages.
    Message(Option<Direction>, Option<DeliveryStatus>),
    /// A conversation event, with the status its name implies.
    Conversation(Option<&'static str>),
    Infer,
    Other(&'a str),
}

fn classify_event(name: &str) -> EventKind<'_> {
    match name {
        "whatsapp.message.received" => EventKind::Message(Some(Direction::Inbound), None),
        "whatsapp.message.sent" => EventKind::Message(Some(Direction::Outbound), Some(DeliveryStatus::Sent)),
        "whatsapp.message.delivered" => EventKind::Message(Some(Direction::Outbound), Some(DeliveryStatus::Delivered)),
        "whatsapp.message.read" => EventKind::Message(Some(Direction::Outbound), Some(DeliveryStatus::Read)),
        "whatsapp.message.failed" => EventKind::Message(Some(Direction::Outbound), Some(DeliveryStatus::Failed)),
        "whatsapp.conversation.created" => EventKind::Conversation(Some("active")),
        "whatsapp.conversation.ended" => EventKind::Conversation(Some("ended")),
        "whatsapp.conversation.inactive" => EventKind::Conversation(Some("inactive")),
        other if other.starts_with("whatsapp.conversation.") => EventKind::Conversation(None),
        other => EventKind::Other(other),
    }
}

struct ConversationFacts {
    id: Option<String>,
    status: Option<String>,
    customer: Customer,
}

fn read_v2_conversation(conv: &Map<String, Value>, at: &At) -> Result<ConversationFacts, ParseError> {
    let kapso_at = at.key("kapso");
    let kapso = opt_object(conv, "kapso", at)?;
    let profile_name = match kapso {
        Some(kapso) => opt_str(kapso, "contact_name", &kapso_at)?.map(str::to_string),
        None => None,
    };
    let mut customer = Customer {
        phone: opt_id(conv, "phone_number", at)?,
        profile_name: profile_name.filter(|n| !n.trim().is_empty()),
        ..Customer::default()
    };
    fill_identity(&mut customer, conv);
    if let Some(kapso) = kapso {
        fill_identity(&mut customer, kapso);
    }
    Ok(ConversationFacts {
        id: opt_id(conv, "id", at)?,
        status: opt_str(conv, "status", at)?.map(str::to_string),
        customer,
    })
}

fn read_v2_message(
    message: &Map<String, Value>,
    at: &At,
    event_direction: Option<Direction>,
    event_status: Option<DeliveryStatus>,
    conversation: Option<ConversationFacts>,
) -> Result<MessageEvent, ParseError> {
    let kapso_at = at.key("kapso");
    let kapso = opt_object(message, "kapso", at)?;
    let kapso_direction = match kapso {
        Some(k) => opt_str(k, "direction", &kapso_at)?,
        None => None,
    };
    let direction = match kapso_direction {
        Some("outbound") => Direction::Outbound,
        Some("inbound") => Direction::Inbound,
        _ => event_direction.unwrap_or(Direction::Inbound),
    };
    let mut parts = read_message_object(message, at)?;
    if let Some(kapso) = kapso {
        let kapso_content = opt_str(kapso, "content", &kapso_at)?;
        let transcript = match opt_object(kapso, "transcript", &kapso_at)? {
            Some(t) => opt_str(t, "text", &kapso_at.key("transcript"))?,
            None => opt_str_lenient(kapso, "transcript"),
        };
        if parts.content.is_none() {
            parts.content = transcript.or(kapso_content).map(str::to_string);
        }
        parts.media_url = opt_str(kapso, "media_url", &kapso_at)?.map(str::to_string);
        if parts.status.is_none() {
            parts.status = opt_str(kapso, "status", &kapso_at)?.and_then(DeliveryStatus::parse);
        }
    }
    let conversation =
        conversation.unwrap_or(ConversationFacts { id: None, status: None, customer: Customer::default() });
    let mut customer = conversation.customer;
    // The customer's number: `from` on inbound messages, `to` on outbound ones, and
    // the conversation's number when the message omits it.
    let own_number = match direction {
        Direction::Inbound => opt_id(message, "from", at)?,
        Direction::Outbound => opt_id(message, "to", at)?,
    };
    if let Some(number) = own_number.filter(|n| !n.trim().is_empty()) {
        customer.phone = Some(number);
    }
    if direction == Direction::Inbound {
        // The sender's own ids win over the conversation's.
        if let Some(id) = lenient_text(message, &["from_user_id"]) {
            customer.business_scoped_id = Some(id);
        }
        if let Some(id) = lenient_text(message, &["from_parent_user_id"]) {
            customer.parent_business_scoped_id = Some(id);
        }
        customer.changed_to = identity_change(message);
    } else if let Some(id) = lenient_text(message, &["recipient", "to_user_id"]) {
        customer.business_scoped_id.get_or_insert(id);
    }
    let status = match direction {
        Direction::Inbound => None,
        Direction::Outbound => event_status.or(parts.status),
    };
    Ok(MessageEvent {
        direction,
        preview: preview(&parts.message_type, parts.content.as_deref(), parts.voice),
        wamid: parts.wamid,
        customer,
        kapso_conversation_id: conversation.id,
        conversation_status: conversation.status,
        message_type: parts.message_type,
        content: parts.content,
        media_url: parts.media_url,
        reply_to: parts.reply_to,
        provider_timestamp: parts.timestamp,
        status,
        status_error: parts.error,
        shared_contacts: parts.shared_contacts,
        notices: parts.notices,
    })
}

/// The parts of a WhatsApp (Meta) message object both formats share.
struct MessageParts {
    wamid: String,
    message_type: String,
    content: Option<String>,
    media_url: Option<String>,
    reply_to: Option<String>,
    timestamp: Option<i64>,
    voice: bool,
    status: Option<DeliveryStatus>,
    error: Option<String>,
    shared_contacts: Vec<SharedContact>,
    notices: Vec<ErrorNotice>,
}

fn read_message_object(message: &Map<String, Value>, at: &At) -> Result<MessageParts, ParseError> {
    let wamid = req_str(message, "id", at)?.trim().to_string();
    if wamid.is_empty() {
        return Err(at.key("id").problem("must not be empty"));
    }
    let message_type = opt_str(message, "type", at)?.unwrap_or("unknown").to_string();
    let timestamp = opt_timestamp(message, "timestamp", at)?;
    // Everything below only decorates the message, and its shape varies between
    // producers and over time: read leniently, so an unexpected shape or an unknown
    // type is stored with a readable placeholder instead of refusing the delivery.
    let reply_to = message.get("context").and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_string);
    let typed = message.get(&message_type).unwrap_or(&Value::Null);
    let text = |key: &str| typed.get(key).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    let mut voice = false;
    let mut shared_contacts = Vec::new();
    let content = match message_type.as_str() {
        "text" => text("body").map(str::to_string),
        "image" | "video" | "sticker" => text("caption").map(str::to_string),
        "document" => text("caption").or(text("filename")).map(str::to_string),
        "audio" => {
            voice = typed.get("voice").and_then(Value::as_bool).unwrap_or(false);
            None
        }
        "location" => match (text("name"), text("address")) {
            (Some(n), Some(a)) => Some(format!("{n}, {a}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
            (None, None) => match (typed.get("latitude"), typed.get("longitude")) {
                (Some(lat), Some(lon)) if lat.is_number() && lon.is_number() => Some(format!("{lat}, {lon}")),
                _ => None,
            },
        },
        "contacts" => {
            shared_contacts = crate::server::contact_cards::read_cards(typed);
            crate::server::contact_cards::summary(&shared_contacts)
        }
        "interactive" => ["button_reply", "list_reply", "nfm_reply"]
            .iter()
            .find_map(|kind| typed.get(*kind))
            .and_then(|reply| reply.get("title").or(reply.get("body")))
            .and_then(Value::as_str)
            .map(str::to_string),
        "button" => text("text").or(text("payload")).map(str::to_string),
        "reaction" => text("emoji").map(str::to_string),
        "system" => text("body").map(str::to_string),
        "order" => {
            let count = typed.get("product_items").and_then(Value::as_array).map(Vec::len);
            match (count, text("text")) {
                (Some(n), Some(note)) => Some(format!("{n} item(s): {note}")),
                (Some(n), None) => Some(format!("{n} item(s)")),
                (None, note) => note.map(str::to_string),
            }
        }
        "unsupported" => text("type").map(|kind| format!("({kind})")),
        _ => None,
    };
    let notices = super::health::read_notices(message.get("errors"));
    let error = message.get("errors").and_then(Value::as_array).and_then(|errors| errors.first()).and_then(error_text);
    Ok(MessageParts {
        wamid,
        message_type,
        content: content.filter(|c| !c.is_empty()),
        media_url: None,
        reply_to,
        timestamp,
        voice,
        status: None,
        error,
        shared_contacts,
        notices,
    })
}

/// Meta's format: `entry[].changes[].value` with `messages[]` and/or `statuses[]`.
fn parse_meta(object: &Map<String, Value>, root: &At) -> Result<Vec<Item>, ParseError> {
    let entry_at = root.key("entry");
    let entries = as_array(object.get("entry").ok_or_else(|| entry_at.missing())?, &entry_at)?;
    let mut items = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        let entry_at = entry_at.index(e);
        let entry = as_object(entry, &entry_at)?;
        let changes_at = entry_at.key("changes");
        let Some(changes) = entry.get("changes") else { continue };
        for (c, change) in as_array(changes, &changes_at)?.iter().enumerate() {
            let change_at = changes_at.index(c);
            let change = as_object(change, &change_at)?;
            let field = opt_str(change, "field", &change_at)?.unwrap_or("messages");
            let value_at = change_at.key("value");
            let value = match opt_object(change, "value", &change_at)? {
                Some(value) => value,
                None => return Err(value_at.missing()),
            };
            let metadata = opt_object(value, "metadata", &value_at)?;
            let phone_number_id = match metadata {
                Some(meta) => opt_id(meta, "phone_number_id", &value_at.key("metadata"))?,
                None => None,
            };
            let before = items.len();
            if field != "messages" {
                items.push(Item {
                    phone_number_id,
                    event: Event::Ignored { reason: format!("Meta change field `{field}` is not used by leadline") },
                });
                continue;
            }
            let profiles = meta_profiles(value, &value_at)?;
            if let Some(messages) = value.get("messages") {
                let messages_at = value_at.key("messages");
                for (m, message) in as_array(messages, &messages_at)?.iter().enumerate() {
                    let message_at = messages_at.index(m);
                    let message = as_object(message, &message_at)?;
                    let parts = read_message_object(message, &message_at)?;
                    let from = opt_id(message, "from", &message_at)?;
                    let bsuid = lenient_text(message, &["from_user_id"]);
                    let contact = profiles.sender(from.as_deref(), bsuid.as_deref());
                    let mut customer = contact.cloned().unwrap_or_default();
                    if from.is_some() {
                        customer.phone = from;
                    }
                    if bsuid.is_some() {
                        customer.business_scoped_id = bsuid;
                    }
                    if let Some(parent) = lenient_text(message, &["from_parent_user_id"]) {
                        customer.parent_business_scoped_id = Some(parent);
                    }
                    customer.changed_to = identity_change(message);
                    items.push(Item {
                        phone_number_id: phone_number_id.clone(),
                        event: Event::Message(MessageEvent {
                            direction: Direction::Inbound,
                            preview: preview(&parts.message_type, parts.content.as_deref(), parts.voice),
                            wamid: parts.wamid,
                            customer,
                            kapso_conversation_id: None,
                            conversation_status: None,
                            message_type: parts.message_type,
                            content: parts.content,
                            media_url: None,
                            reply_to: parts.reply_to,
                            provider_timestamp: parts.timestamp,
                            status: None,
                            status_error: None,
                            shared_contacts: parts.shared_contacts,
                            notices: parts.notices,
                        }),
                    });
                }
            }
            if let Some(statuses) = value.get("statuses") {
                let statuses_at = value_at.key("statuses");
                for (s, status) in as_array(statuses, &statuses_at)?.iter().enumerate() {
                    let status_at = statuses_at.index(s);
                    let status = as_object(status, &status_at)?;
                    let wamid = req_str(status, "id", &status_at)?.trim().to_string();
                    let name = req_str(status, "status", &status_at)?;
                    let event = match DeliveryStatus::parse(name) {
                        Some(parsed) => Event::Status(StatusEvent {
                            wamid,
                            status: parsed,
                            error: status
                                .get("errors")
                                .and_then(Value::as_array)
                                .and_then(|errors| errors.first())
                                .and_then(error_text),
                            notices: super::health::read_notices(status.get("errors")),
                            recipient: Customer {
                                phone: lenient_text(status, &["recipient_id"]),
                                business_scoped_id: lenient_text(status, &["recipient_user_id"]),
                                parent_business_scoped_id: lenient_text(status, &["recipient_parent_user_id"]),
                                ..Customer::default()
                            },
                        }),
                        None => Event::Ignored { reason: format!("status `{name}` is not tracked") },
                    };
                    items.push(Item { phone_number_id: phone_number_id.clone(), event });
                }
            }
            // A change may hold only `errors` (a problem with the number or the account).
            for notice in super::health::read_notices(value.get("errors")) {
                items.push(Item { phone_number_id: phone_number_id.clone(), event: Event::ErrorNotice(notice) });
            }
            if items.len() == before {
                // Routable but empty (or only fields leadline does not use): acknowledge it.
                items.push(Item {
                    phone_number_id,
                    event: Event::Ignored { reason: "the change holds no messages, statuses or errors".into() },
                });
            }
        }
    }
    Ok(items)
}

/// `contacts[]` of a Meta change, looked up by `wa_id` and by `user_id` through maps:
/// a message finds its sender in constant time, so a body of many messages and many
/// contacts costs O(messages + contacts), not their product.
struct MetaContacts {
    contacts: Vec<Customer>,
    by_wa_id: HashMap<String, usize>,
    by_user_id: HashMap<String, usize>,
}

impl MetaContacts {
    /// The sender's contact: by phone, else by BSUID, else the only contact of the change
    /// (the sender, even when its ids are written differently).
    fn sender(&self, from: Option<&str>, user_id: Option<&str>) -> Option<&Customer> {
        let index = from
            .and_then(|f| self.by_wa_id.get(f))
            .or_else(|| user_id.and_then(|u| self.by_user_id.get(u)))
            .copied()
            .or(if self.contacts.len() == 1 { Some(0) } else { None })?;
        self.contacts.get(index)
    }
}

/// `contacts[]` of a Meta change: wa_id, user_id, parent_user_id, profile name and username.
fn meta_profiles(value: &Map<String, Value>, at: &At) -> Result<MetaContacts, ParseError> {
    let mut found = MetaContacts { contacts: Vec::new(), by_wa_id: HashMap::new(), by_user_id: HashMap::new() };
    let Some(contacts) = value.get("contacts") else { return Ok(found) };
    let contacts_at = at.key("contacts");
    let contacts = as_array(contacts, &contacts_at)?;
    found.contacts.reserve(contacts.len());
    for (i, contact) in contacts.iter().enumerate() {
        let contact_at = contacts_at.index(i);
        let contact = as_object(contact, &contact_at)?;
        let wa_id = opt_id(contact, "wa_id", &contact_at)?;
        let (name, username) = match opt_object(contact, "profile", &contact_at)? {
            Some(profile) => (
                opt_str(profile, "name", &contact_at.key("profile"))?.map(str::to_string),
                lenient_text(profile, &["username"]),
            ),
            None => (None, None),
        };
        let mut customer = Customer {
            phone: wa_id,
            profile_name: name.filter(|n| !n.trim().is_empty()),
            username,
            ..Customer::default()
        };
        fill_identity(&mut customer, contact);
        let index = found.contacts.len();
        if let Some(wa_id) = &customer.phone {
            found.by_wa_id.entry(wa_id.clone()).or_insert(index);
        }
        if let Some(user_id) = &customer.business_scoped_id {
            found.by_user_id.entry(user_id.clone()).or_insert(index);
        }
        found.contacts.push(customer);
    }
    Ok(found)
}

/// The longest identifier kept (a BSUID is a country code, a dot and up to 128
/// alphanumerics; usernames are shorter). Longer values are not identifiers.
const MAX_IDENTIFIER_CHARS: usize = 160;

/// The first of `keys` holding a non-empty string (or a whole number, as some producers
/// write ids). Identity fields are read leniently: a field of an unexpected shape is
/// ignored rather than refusing the delivery, which would lose the message.
fn lenient_text(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        let text = match object.get(*key)? {
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) if number.is_u64() => number.to_string(),
            _ => return None,
        };
        (!text.is_empty() && text.chars().count() <= MAX_IDENTIFIER_CHARS).then_some(text)
    })
}

/// Fills the identifiers `customer` lacks from an object that names a WhatsApp user in
/// any of the ways Kapso and Meta write them (conversation, contact, `kapso` summary).
fn fill_identity(customer: &mut Customer, object: &Map<String, Value>) {
    if customer.phone.is_none() {
        customer.phone = lenient_text(object, &["phone_number", "wa_id"]);
    }
    if customer.business_scoped_id.is_none() {
        customer.business_scoped_id = lenient_text(object, &["business_scoped_user_id", "user_id"]);
    }
    if customer.parent_business_scoped_id.is_none() {
        customer.parent_business_scoped_id =
            lenient_text(object, &["parent_business_scoped_user_id", "parent_user_id"]);
    }
    if customer.username.is_none() {
        customer.username = lenient_text(object, &["username", "contact_username"]);
    }
    if customer.profile_name.is_none() {
        customer.profile_name = lenient_text(object, &["contact_name", "profile_name"]);
    }
}

/// The new identity a `system` message announces: `user_changed_number` carries the new
/// number in `system.wa_id`; `user_changed_user_id` / `user_id_update` the new BSUID.
fn identity_change(message: &Map<String, Value>) -> Option<IdentityChange> {
    let system = message.get("system")?.as_object()?;
    let kind = system.get("type").and_then(Value::as_str).unwrap_or_default();
    let change = match kind {
        "user_changed_number" | "customer_changed_number" => IdentityChange {
            phone: lenient_text(system, &["wa_id", "new_wa_id"]),
            business_scoped_id: lenient_text(system, &["new_user_id", "user_id"]),
        },
        "user_changed_user_id" | "user_id_update" => IdentityChange {
            phone: lenient_text(system, &["new_wa_id"]),
            business_scoped_id: lenient_text(system, &["new_user_id", "user_id", "business_scoped_user_id"]),
        },
        _ => return None,
    };
    (change.phone.is_some() || change.business_scoped_id.is_some()).then_some(change)
}

fn error_text(error: &Value) -> Option<String> {
    let text = error
        .get("message")
        .or(error.get("title"))
        .or(error.get("error_data").and_then(|d| d.get("details")))
        .and_then(Value::as_str)?;
    let code = error.get("code").and_then(Value::as_i64);
    Some(match code {
        Some(code) => format!("{text} ({code})"),
        None => text.to_string(),
    })
}

/// The readable placeholder for a kind of message that is not plain text.
pub fn media_label(message_type: &str, voice: bool) -> Option<&'static str> {
    match message_type {
        "text" | "interactive" | "button" => None,
        "image" => Some("[Image]"),
        "video" => Some("[Video]"),
        "audio" if voice => Some("[Voice message]"),
        "audio" => Some("[Audio]"),
        "document" => Some("[Document]"),
        "sticker" => Some("[Sticker]"),
        "location" => Some("[Location]"),
        "contacts" => Some("Shared contact:"),
        "reaction" => Some("[Reaction]"),
        "order" => Some("[Order]"),
        "system" => Some("[System]"),
        "unsupported" => Some("[Unsupported message]"),
        _ => Some("[Message]"),
    }
}

/// The inbox's one-line summary of a message: its text, or a readable placeholder for
/// media and other kinds, at most [`PREVIEW_CHARS`] characters.
pub fn preview(message_type: &str, content: Option<&str>, voice: bool) -> String {
    let label = media_label(message_type, voice);
    let content = content.map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "));
    let text = match (label, content) {
        (Some(label), Some(content)) if !content.is_empty() => format!("{label} {content}"),
        (Some(label), _) => label.to_string(),
        (None, Some(content)) => content,
        (None, None) => String::new(),
    };
    if text.is_empty() {
        // Never an empty line in the inbox: a message without readable text says so.
        return "[Message]".into();
    }
    truncate_chars(&text, PREVIEW_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            let kept: String = text[..cut].chars().take(max - 1).collect();
            format!("{kept}…")
        }
        None => text.to_string(),
    }
}

// ---- A tiny JSON walker that remembers where it is, for error messages. ----

/// A position in the body, kept as a chain of borrowed segments so that walking the
/// happy path allocates nothing; it is rendered only when something is wrong.
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    const ROOT: At<'static> = At { parent: None, segment: Segment::Root };

    fn key(&'a self, key: &'a str) -> At<'a> {
        At { parent: Some(self), segment: Segment::Key(key) }
    }

    fn index(&'a self, index: usize) -> At<'a> {
        At { parent: Some(self), segment: Segment::Index(index) }
    }

    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut cursor = Some(self);
        while let Some(at) = cursor {
            segments.push(at.segment);
            cursor = at.parent;
        }
        let mut path = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Root => {}
                Segment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        if path.is_empty() {
            "body".into()
        } else {
            path
        }
    }

    fn problem(&self, problem: impl Into<String>) -> ParseError {
        ParseError { path: self.render(), problem: problem.into(), over_limit: false }
    }

    fn missing(&self) -> ParseError {
        self.problem("is missing")
    }

    fn expected(&self, what: &str, found: &Value) -> ParseError {
        self.problem(format!("expected {what}, found {}", kind_of(found)))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_object<'v>(value: &'v Value, at: &At) -> Result<&'v Map<String, Value>, ParseError> {
    value.as_object().ok_or_else(|| at.expected("an object", value))
}

fn as_array<'v>(value: &'v Value, at: &At) -> Result<&'v Vec<Value>, ParseError> {
    value.as_array().ok_or_else(|| at.expected("an array", value))
}

fn opt_object<'v>(
    object: &'v Map<String, Value>,
    key: &str,
    at: &At,
) -> Result<Option<&'v Map<String, Value>>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(at.key(key).expected("an object", other)),
    }
}

fn req_str<'v>(object: &'v Map<String, Value>, key: &str, at: &At) -> Result<&'v str, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(at.key(key).missing()),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

fn opt_str<'v>(object: &'v Map<String, Value>, key: &str, at: &At) -> Result<Option<&'v str>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

/// A string where one is present and anything else ignored, for fields whose shape
/// varies between producers and that only decorate a message.
fn opt_str_lenient<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    object.get(key).and_then(Value::as_str)
}

/// An identifier or number that some producers send as a JSON number (ids, wa_id).
fn opt_id(object: &Map<String, Value>, key: &str, at: &At) -> Result<Option<String>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
        Some(Value::Number(number)) if number.is_u64() => Ok(Some(number.to_string())),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

/// Unix seconds, as a string (Meta) or a number.
fn opt_timestamp(object: &Map<String, Value>, key: &str, at: &At) -> Result<Option<i64>, ParseError> {
    let seconds = match object.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => {
            text.trim().parse::<i64>().map_err(|_| at.key(key).problem("expected Unix seconds"))?
        }
        Some(Value::Number(number)) => number.as_i64().ok_or_else(|| at.key(key).problem("expected Unix seconds"))?,
        Some(other) => return Err(at.key(key).expected("Unix seconds", other)),
    };
    // Outside year 1970..=9999 is not a message time; keep the message, drop the time.
    Ok((0..=253_402_300_799).contains(&seconds).then(|| seconds * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tests/fixtures/kapso").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn only_message(delivery: &Delivery) -> &MessageEvent {
        match &delivery.items[..] {
            [Item { event: Event::Message(m), .. }] => m,
            other => panic!("expected one message, got {other:?}"),
        }
    }

    #[test]
    fn kapso_v2_single_message() {
        let d = parse(&fixture("v2-message-received.json"), Some("whatsapp.message.received")).unwrap();
        assert_eq!(d.format, Format::KapsoV2);
        assert_eq!(d.items[0].phone_number_id.as_deref(), Some("123456789012345"));
        let m = only_message(&d);
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.customer.phone.as_deref(), Some("+6281234567890"));
        assert_eq!(m.customer.profile_name.as_deref(), Some("Budi Santoso"));
        assert_eq!(m.kapso_conversation_id.as_deref(), Some("3f1c2b7e-8d4a-4c1e-9a55-2b6f0d9e7a11"));
        assert_eq!(m.content.as_deref(), Some("Halo, apakah produk ini masih tersedia?"));
        assert_eq!(m.provider_timestamp, Some(1_767_243_600_000));
    }

    #[test]
    fn kapso_batch_with_media_placeholder() {
        let d = parse(&fixture("v2-batch-message-received.json"), None).unwrap();
        assert_eq!(d.format, Format::KapsoBatch);
        assert_eq!(d.items.len(), 2);
        let Event::Message(image) = &d.items[1].event else { panic!() };
        assert_eq!(image.preview, "[Image] ini fotonya");
        assert_eq!(image.media_url.as_deref(), Some("https://example.invalid/media/1234567890"));
    }

    #[test]
    fn meta_message_and_statuses() {
        let d = parse(&fixture("meta-forwarded-text.json"), None).unwrap();
        assert_eq!(d.format, Format::Meta);
        let m = only_message(&d);
        assert_eq!(m.customer.phone.as_deref(), Some("6281234567890"));
        assert_eq!(m.customer.profile_name.as_deref(), Some("Budi Santoso"));
        assert_eq!(m.reply_to.as_deref(), Some("wamid.OUTBOUND0001"));
        let d = parse(&fixture("meta-forwarded-statuses.json"), None).unwrap();
        assert!(matches!(
            &d.items[..],
            [Item { event: Event::Status(StatusEvent { status: DeliveryStatus::Read, .. }), .. }]
        ));
    }

    #[test]
    fn business_scoped_ids_and_usernames_are_read_everywhere() {
        let d = parse(&fixture("v2-message-received-bsuid-only.json"), Some("whatsapp.message.received")).unwrap();
        let m = only_message(&d);
        assert_eq!(m.customer.phone, None);
        assert_eq!(m.customer.business_scoped_id.as_deref(), Some("ID.77700011122233344"));
        assert_eq!(m.customer.username.as_deref(), Some("@dewi.kue"));
        assert_eq!(m.customer.profile_name.as_deref(), Some("Dewi"));

        let d = parse(&fixture("meta-forwarded-bsuid.json"), None).unwrap();
        let m = only_message(&d);
        assert_eq!(m.customer.phone.as_deref(), Some("6281377788899"));
        assert_eq!(m.customer.business_scoped_id.as_deref(), Some("ID.77700011122233344"));
        assert_eq!(m.customer.username.as_deref(), Some("@dewi.kue"));
        assert_eq!(m.customer.profile_name.as_deref(), Some("Dewi"));

        let body = br#"{"message": {"id": "w1", "type": "text", "text": {"body": "x"},
            "from_user_id": "US.1", "from_parent_user_id": "US.ENT.9"},
            "conversation": {"id": "c1", "phone_number": null, "business_scoped_user_id": 42,
                             "username": ["odd"], "kapso": {"contact_name": "Al"}},
            "phone_number_id": "1"}"#;
        let d = parse(body, Some("whatsapp.message.received")).unwrap();
        let m = only_message(&d);
        assert_eq!(m.customer.business_scoped_id.as_deref(), Some("US.1"), "the sender's own id wins");
        assert_eq!(m.customer.parent_business_scoped_id.as_deref(), Some("US.ENT.9"));
        assert_eq!(m.customer.username, None, "an odd-shaped username is ignored, not refused");
    }

    #[test]
    fn number_and_user_id_changes_are_read_from_system_messages() {
        let d = parse(&fixture("meta-system-user-changed-number.json"), None).unwrap();
        let m = only_message(&d);
        assert_eq!(m.customer.phone.as_deref(), Some("6281234567890"));
        let change = m.customer.changed_to.as_ref().unwrap();
        assert_eq!(change.phone.as_deref(), Some("6285712345678"));
        let body = br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": "1"},
            "messages": [{"from_user_id": "ID.old", "id": "w", "type": "system",
                          "system": {"type": "user_id_update", "user_id": "ID.new", "body": "changed"}}]}}]}]}"#;
        let d = parse(body, None).unwrap();
        let change = only_message(&d).customer.changed_to.clone().unwrap();
        assert_eq!(change.business_scoped_id.as_deref(), Some("ID.new"));
        assert_eq!(change.phone, None);
    }

    #[test]
    fn statuses_carry_the_recipients_phone_and_bsuid() {
        let body = br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": "1"},
            "statuses": [{"id": "w", "status": "read", "recipient_id": "6281", "recipient_user_id": "ID.9"}]}}]}]}"#;
        let d = parse(body, None).unwrap();
        let Event::Status(status) = &d.items[0].event else { panic!() };
        assert_eq!(status.recipient.phone.as_deref(), Some("6281"));
        assert_eq!(status.recipient.business_scoped_id.as_deref(), Some("ID.9"));
    }

    #[test]
    fn meta_senders_are_found_among_many_contacts_by_number_or_user_id() {
        // As many as one delivery may hold (see the item cap).
        let n = MAX_ITEMS_PER_DELIVERY / 2;
        let contacts: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"wa_id": format!("62812{i:06}"), "user_id": format!("ID.{i}"), "profile": {"name": format!("C{i}")}}))
            .collect();
        let messages: Vec<serde_json::Value> = (0..n)
            .map(|i| if i % 2 == 0 {
                serde_json::json!({"from": format!("62812{i:06}"), "id": format!("w{i}"), "type": "text", "text": {"body": "x"}})
            } else {
                serde_json::json!({"from_user_id": format!("ID.{i}"), "id": format!("w{i}"), "type": "text", "text": {"body": "x"}})
            })
            .collect();
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": "1"}, "contacts": contacts, "messages": messages}}]}]});
        let d = parse(&serde_json::to_vec(&body).unwrap(), None).unwrap();
        for (i, item) in d.items.iter().enumerate() {
            let Event::Message(m) = &item.event else { panic!() };
            assert_eq!(m.customer.profile_name.as_deref(), Some(format!("C{i}").as_str()));
            assert_eq!(m.customer.phone.as_deref(), Some(format!("62812{i:06}").as_str()));
            assert_eq!(m.customer.business_scoped_id.as_deref(), Some(format!("ID.{i}").as_str()));
        }
    }

    #[test]
    fn conversation_event() {
        let d = parse(&fixture("v2-conversation-created.json"), Some("whatsapp.conversation.created")).unwrap();
        assert!(matches!(&d.items[0].event, Event::Conversation(c) if c.status.as_deref() == Some("active")));
    }

    #[test]
    fn wrong_shapes_name_the_problem() {
        let err = parse(br#"{"message": {"id": 5}}"#, None).unwrap_err();
        assert_eq!(err.to_string(), "message.id: expected a string, found a number");
        let err = parse(br#"{"batch": true, "data": [{"message": {"id": "a"}}, {"message": "x"}]}"#, None).unwrap_err();
        assert_eq!(err.to_string(), "data[1].message: expected an object, found a string");
        let err = parse(b"[1,2]", None).unwrap_err();
        assert_eq!(err.to_string(), "body: expected an object, found an array");
        assert!(parse(b"{nope", None).unwrap_err().to_string().starts_with("malformed JSON"));
        assert!(parse(br#"{"hello": 1}"#, None).is_err());
        let err = parse(br#"{"message": {"id": "x"}}"#, Some("whatsapp.conversation.ended")).unwrap_err();
        assert_eq!(err.to_string(), "conversation: is missing");
    }

    #[test]
    fn unknown_events_are_ignored_not_refused() {
        let d = parse(br#"{"message": {"id": "x"}}"#, Some("whatsapp.phone_number.updated")).unwrap();
        assert!(matches!(d.items[0].event, Event::Ignored { .. }));
    }

    #[test]
    fn previews_are_bounded_and_readable() {
        assert_eq!(preview("text", Some("  hello \n world "), false), "hello world");
        assert_eq!(preview("audio", None, true), "[Voice message]");
        assert_eq!(preview("sticker", None, false), "[Sticker]");
        let long = "x".repeat(300);
        let p = preview("text", Some(&long), false);
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.ends_with('…'));
    }

    fn corpus(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tests/fixtures/corpus").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn shared_contact_cards_are_read_not_refused() {
        let d = parse(&corpus("meta-contacts.json"), None).unwrap();
        let m = only_message(&d);
        assert_eq!(m.message_type, "contacts");
        assert_eq!(m.preview, "Shared contact: Ani Wijaya, +62 812-3456-7801 + 1 more");
        assert_eq!(m.shared_contacts.len(), 2);
        assert_eq!(m.shared_contacts[0].phones[0].wa_id.as_deref(), Some("6281234567801"));
        assert_eq!(m.customer.phone.as_deref(), Some("16505551234"), "the sender, not the shared contact");
    }

    #[test]
    fn an_errors_only_change_is_routed() {
        let d = parse(&corpus("meta-errors-only.json"), None).unwrap();
        match &d.items[..] {
            [Item { phone_number_id: Some(id), event: Event::ErrorNotice(notice) }] => {
                assert_eq!(id, "123456789012345");
                assert_eq!((notice.code, notice.title.as_str()), (Some(130429), "Rate limit hit"));
            }
            other => panic!("{other:?}"),
        }
        let d = parse(&corpus("meta-status-failed.json"), None).unwrap();
        let Event::Status(status) = &d.items[0].event else { panic!() };
        assert_eq!(status.notices[0].code, Some(131047));
        // A change with nothing leadline uses is still acknowledged for its number.
        let empty = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"}}}]}]}"#;
        assert!(matches!(&parse(empty, None).unwrap().items[..], [Item { event: Event::Ignored { .. }, .. }]));
    }

    #[test]
    fn unknown_types_and_odd_shapes_get_placeholders() {
        for (typed, expected) in [
            (r#""type": "poll_vote", "poll_vote": {"x": 1}"#, "[Message]"),
            (r#""type": "image", "image": "not an object""#, "[Image]"),
            (r#""type": "text", "text": {"body": 42}"#, "[Message]"),
            (r#""type": "location", "location": [1, 2]"#, "[Location]"),
            (r#""type": "contacts", "contacts": {"name": "not an array"}"#, "Shared contact:"),
            (r#""type": "unsupported", "unsupported": {"type": "poll_update"}"#, "[Unsupported message] (poll_update)"),
        ] {
            let body = format!(r#"{{"message": {{"id": "w1", {typed}, "context": "odd"}}, "phone_number_id": "1"}}"#);
            let d =
                parse(body.as_bytes(), Some("whatsapp.message.received")).unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(only_message(&d).preview, expected, "{typed}");
        }
    }

    #[test]
    fn the_item_cap_is_checked_before_reading() {
        let batch = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| format!(r#"{{"message":{{"id":"w{i}"}}}}"#)).collect();
            format!(r#"{{"batch": true, "data": [{}]}}"#, items.join(","))
        };
        assert_eq!(parse(batch(MAX_ITEMS_PER_DELIVERY).as_bytes(), None).unwrap().items.len(), MAX_ITEMS_PER_DELIVERY);
        let err = parse(batch(MAX_ITEMS_PER_DELIVERY + 1).as_bytes(), None).unwrap_err();
        assert!(err.over_limit);
        assert!(err.to_string().contains("MAX_ITEMS_PER_DELIVERY"), "{err}");
    }

    mod properties {
        use super::super::parse;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse(&bytes, None);
            }

            #[test]
            fn arbitrary_json_values_never_panic(json in arb_json()) {
                let body = serde_json::to_vec(&json).unwrap();
                let _ = parse(&body, Some("whatsapp.message.received"));
                let _ = parse(&body, None);
            }
        }

        /// JSON built from the keys the parser looks for, so the walk goes deep.
        fn arb_json() -> impl Strategy<Value = serde_json::Value> {
            use serde_json::Value;
            let keys = prop::sample::select(vec![
                "message",
                "conversation",
                "data",
                "batch",
                "object",
                "entry",
                "changes",
                "value",
                "messages",
                "statuses",
                "contacts",
                "metadata",
                "phone_number_id",
                "id",
                "type",
                "text",
                "body",
                "kapso",
                "direction",
                "from",
                "to",
                "timestamp",
                "status",
                "image",
                "caption",
                "context",
                "profile",
                "name",
                "wa_id",
                "field",
                "errors",
                "location",
                "interactive",
                "button_reply",
                "title",
                "transcript",
                "phone_number",
            ]);
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|n| serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)),
                ".{0,12}".prop_map(Value::String),
                Just(Value::String("text".into())),
                Just(Value::String("1767243600".into())),
            ];
            leaf.prop_recursive(5, 64, 8, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((keys.clone(), inner), 0..6)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                ]
            })
        }
    }
}
