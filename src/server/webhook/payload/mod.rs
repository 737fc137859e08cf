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
//!
//! Here: the shapes every format is read into, and which format a body is. Apart:
//! `kapso.rs` (v2 bodies and batch entries), `meta.rs` (Meta's format), `fields.rs`
//! (lenient identity and error fields, previews), `walk.rs` (the path-remembering JSON
//! walker behind every error message).

mod fields;
mod kapso;
mod meta;
mod walk;

use crate::server::identity::Identifiers;
use fields::*;
pub use fields::{media_label, preview};
use kapso::*;
use meta::*;
use serde_json::{Map, Value};
use std::{collections::HashMap, fmt};
use walk::*;

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

pub use crate::model::{DeliveryStatus, Direction};

/// A delivery status by WhatsApp's or Kapso's name for it (never `queued` or `unknown`:
/// those are ours; Kapso's `queued` is WhatsApp's `pending`).
pub(super) fn delivery_status(text: &str) -> Option<DeliveryStatus> {
    Some(match text {
        "pending" | "queued" | "accepted" => DeliveryStatus::Pending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" | "undelivered" => DeliveryStatus::Failed,
        _ => return None,
    })
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
    /// The identifiers above, parsed (set by [`parse`] once the customer is complete).
    pub ids: Identifiers,
}

impl Customer {
    fn identify(&mut self) {
        self.ids = Identifiers::of(self);
    }
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
    let mut delivery = read_delivery(body, event_header)?;
    // Every customer's identifiers are parsed here, once, in the request: the single
    // ingest writer then only compares them (validating a phone number runs the
    // metadata's regular expressions, 5 % of the server's CPU when the writer did it).
    for item in &mut delivery.items {
        match &mut item.event {
            Event::Message(m) => m.customer.identify(),
            Event::Status(s) => s.recipient.identify(),
            Event::Conversation(c) => c.customer.identify(),
            Event::Ignored { .. } | Event::ErrorNotice(_) => {}
        }
    }
    Ok(delivery)
}

fn read_delivery(body: &[u8], event_header: Option<&str>) -> Result<Delivery, ParseError> {
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

#[cfg(test)]
mod tests;
