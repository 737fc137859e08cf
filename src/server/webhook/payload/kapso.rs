//! Kapso's own format: a v2 body (single, or one element of a batch's `data`).

use super::*;

/// One Kapso v2 body (a single delivery, or one element of a batch's `data`).
pub(super) fn parse_v2_item(object: &Map<String, Value>, event: Option<&str>, at: &At) -> Result<Item, ParseError> {
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
pub(super) enum EventKind<'a> {
    /// A message event; `Some(direction)` when the event name says which way, and the
    /// status it implies for outbound messages.
    Message(Option<Direction>, Option<DeliveryStatus>),
    /// A conversation event, with the status its name implies.
    Conversation(Option<&'static str>),
    Infer,
    Other(&'a str),
}

pub(super) fn classify_event(name: &str) -> EventKind<'_> {
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

pub(super) struct ConversationFacts {
    pub(super) id: Option<String>,
    pub(super) status: Option<String>,
    pub(super) customer: Customer,
}

pub(super) fn read_v2_conversation(conv: &Map<String, Value>, at: &At) -> Result<ConversationFacts, ParseError> {
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

pub(super) fn read_v2_message(
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
            parts.status = opt_str(kapso, "status", &kapso_at)?.and_then(delivery_status);
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
pub(super) struct MessageParts {
    pub(super) wamid: String,
    pub(super) message_type: String,
    pub(super) content: Option<String>,
    pub(super) media_url: Option<String>,
    pub(super) reply_to: Option<String>,
    pub(super) timestamp: Option<i64>,
    pub(super) voice: bool,
    pub(super) status: Option<DeliveryStatus>,
    pub(super) error: Option<String>,
    pub(super) shared_contacts: Vec<SharedContact>,
    pub(super) notices: Vec<ErrorNotice>,
}

pub(super) fn read_message_object(message: &Map<String, Value>, at: &At) -> Result<MessageParts, ParseError> {
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
    let notices = crate::server::webhook::health::read_notices(message.get("errors"));
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
