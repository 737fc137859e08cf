//! Reading the lenient parts (identities, error texts) and shaping previews.

use super::*;

/// The longest identifier kept (a BSUID is a country code, a dot and up to 128
/// alphanumerics; usernames are shorter). Longer values are not identifiers.
pub(super) const MAX_IDENTIFIER_CHARS: usize = 160;

/// The first of `keys` holding a non-empty string (or a whole number, as some producers
/// write ids). Identity fields are read leniently: a field of an unexpected shape is
/// ignored rather than refusing the delivery, which would lose the message.
pub(super) fn lenient_text(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
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
pub(super) fn fill_identity(customer: &mut Customer, object: &Map<String, Value>) {
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
pub(super) fn identity_change(message: &Map<String, Value>) -> Option<IdentityChange> {
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

pub(super) fn error_text(error: &Value) -> Option<String> {
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

pub(super) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            let kept: String = text[..cut].chars().take(max - 1).collect();
            format!("{kept}…")
        }
        None => text.to_string(),
    }
}
