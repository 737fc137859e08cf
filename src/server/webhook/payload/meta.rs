//! Meta's format (`object` / `entry[].changes[].value`), as Kapso forwards it.

use super::*;

/// Meta's format: `entry[].changes[].value` with `messages[]` and/or `statuses[]`.
pub(super) fn parse_meta(object: &Map<String, Value>, root: &At) -> Result<Vec<Item>, ParseError> {
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
                    let event = match delivery_status(name) {
                        Some(parsed) => Event::Status(StatusEvent {
                            wamid,
                            status: parsed,
                            error: status
                                .get("errors")
                                .and_then(Value::as_array)
                                .and_then(|errors| errors.first())
                                .and_then(error_text),
                            notices: crate::server::webhook::health::read_notices(status.get("errors")),
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
            for notice in crate::server::webhook::health::read_notices(value.get("errors")) {
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
pub(super) struct MetaContacts {
    pub(super) contacts: Vec<Customer>,
    pub(super) by_wa_id: HashMap<String, usize>,
    pub(super) by_user_id: HashMap<String, usize>,
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
pub(super) fn meta_profiles(value: &Map<String, Value>, at: &At) -> Result<MetaContacts, ParseError> {
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
