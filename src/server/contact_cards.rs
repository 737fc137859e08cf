//! Contact cards customers share in WhatsApp (`messages[].type = "contacts"`): a
//! customer passes on a friend's number, and one click makes that friend a lead.
//!
//! - Reading (no I/O, called by the webhook parser): `contacts[]` is an array of vCards
//!   in JSON (`name.formatted_name`, `phones[]{phone, wa_id, type}`, `emails[]`, `org`…).
//!   Whatever its shape, reading never fails: what is not understood is left out, and a
//!   delivery is never refused because of a card.
//! - Storing: ingest keeps the cards with the message (`messages.shared_contacts`, JSON).
//! - Showing and adding (`add_as_lead`): a shared number is read as a typed number is,
//!   in the workspace's region (`0812…` is Indonesian in ID), falling back to the
//!   card's `wa_id` (international digits). If the number already belongs to a lead,
//!   that lead is returned instead of a new one.

use crate::app::api::{ContactCardView, ContactLead, ContactPhoneView};
use crate::model::clean_manual_name;
use crate::server::{
    error::{AppError, AppResult},
    ids::LeadId,
    leads::{self, Created, NewLead},
    phone::E164,
    workspaces::Workspace,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;

/// One shared vCard, as stored with the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default)]
    pub phones: Vec<SharedPhone>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedPhone {
    /// The number as written on the card (`+62 812-3456-7801`, `0812…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// WhatsApp's id of the number, when it is on WhatsApp (international digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// CELL, HOME, WORK…
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
}

/// Bounds on what one message keeps, whatever the card holds.
const MAX_CARDS: usize = 20;
const MAX_ENTRIES: usize = 10;
const MAX_CHARS: usize = 200;

/// Reads `contacts[]` of a message leniently: non-objects and odd fields are skipped.
pub fn read_cards(contacts: &Value) -> Vec<SharedContact> {
    let Some(cards) = contacts.as_array() else { return Vec::new() };
    cards
        .iter()
        .take(MAX_CARDS)
        .filter(|card| card.is_object())
        .map(|card| {
            let name = card.get("name");
            let name = text(name.and_then(|n| n.get("formatted_name"))).or_else(|| {
                let parts: Vec<String> = ["first_name", "middle_name", "last_name"]
                    .iter()
                    .filter_map(|key| text(name.and_then(|n| n.get(*key))))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            });
            let org = card.get("org");
            let org = text(org.and_then(|o| o.get("company")));
            let phones = list(card.get("phones"))
                .map(|p| SharedPhone {
                    phone: text(p.get("phone")),
                    wa_id: text(p.get("wa_id")),
                    kind: text(p.get("type")),
                })
                .filter(|p| p.phone.is_some() || p.wa_id.is_some())
                .collect();
            let emails = list(card.get("emails")).filter_map(|e| text(e.get("email"))).collect();
            SharedContact { name, org, phones, emails }
        })
        .filter(|card| card.name.is_some() || !card.phones.is_empty() || !card.emails.is_empty())
        .collect()
}

fn list(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten().take(MAX_ENTRIES)
}

fn text(value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then(|| text.chars().take(MAX_CHARS).collect())
}

/// The message text of shared cards: "Ani Wijaya, +62 812-3456-7801" (and "+ 1 more").
pub fn summary(cards: &[SharedContact]) -> Option<String> {
    let first = cards.first()?;
    let number =
        first.phones.first().and_then(|p| p.phone.clone().or_else(|| p.wa_id.as_ref().map(|w| format!("+{w}"))));
    let mut text = match (&first.name, number) {
        (Some(name), Some(number)) => format!("{name}, {number}"),
        (Some(name), None) => name.clone(),
        (None, Some(number)) => number,
        (None, None) => first.emails.first()?.clone(),
    };
    if cards.len() > 1 {
        text.push_str(&format!(" + {} more", cards.len() - 1));
    }
    Some(text)
}

/// The number a shared phone stands for: as typed, in the workspace's region; else
/// WhatsApp's id of it.
fn number_of(phone: &SharedPhone, workspace: &Workspace) -> Option<E164> {
    phone
        .phone
        .as_deref()
        .and_then(|typed| E164::parse_typed(typed, workspace.region).ok())
        .or_else(|| phone.wa_id.as_deref().and_then(E164::parse_international))
}

/// Cards stored with a message (the column's JSON), empty when there are none.
pub fn parse_stored(json: Option<&str>) -> Vec<SharedContact> {
    json.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// The cards of a thread's messages, by message id, with each number's lead if it has one.
pub async fn views(
    db: &crate::server::db::Db,
    workspace: &Workspace,
    stored: &[(String, Option<String>)],
) -> AppResult<HashMap<String, Vec<ContactCardView>>> {
    let mut out = HashMap::new();
    for (message_id, json) in stored {
        let cards = parse_stored(json.as_deref());
        if cards.is_empty() {
            continue;
        }
        let mut views = Vec::with_capacity(cards.len());
        for card in cards {
            let mut phones = Vec::with_capacity(card.phones.len());
            for (index, phone) in card.phones.iter().enumerate() {
                let number = number_of(phone, workspace);
                let lead_id = match &number {
                    Some(number) => existing_lead(db, workspace, number).await?,
                    None => None,
                };
                phones.push(ContactPhoneView {
                    index,
                    display: number
                        .as_ref()
                        .map(E164::international)
                        .or_else(|| phone.phone.clone())
                        .or_else(|| phone.wa_id.clone())
                        .unwrap_or_default(),
                    kind: phone.kind.clone(),
                    addable: number.is_some(),
                    lead_id,
                });
            }
            views.push(ContactCardView {
                name: card.name.clone().unwrap_or_default(),
                org: card.org.clone(),
                emails: card.emails.clone(),
                phones,
            });
        }
        out.insert(message_id.clone(), views);
    }
    Ok(out)
}

async fn existing_lead(db: &crate::server::db::Db, workspace: &Workspace, number: &E164) -> AppResult<Option<String>> {
    Ok(sqlx::query("SELECT id FROM leads WHERE workspace_id = $1 AND phone_normalized = $2")
        .bind(workspace.id.as_str())
        .bind(number.as_str())
        .fetch_optional(&db.pool)
        .await?
        .map(|row| row.try_get::<String, _>("id"))
        .transpose()?)
}

/// Makes the `phone`-th number of the `card`-th card shared in message `message_id` a
/// lead (named as on the card), or finds the lead it already belongs to.
pub async fn add_as_lead(
    db: &crate::server::db::Db,
    workspace: &Workspace,
    message_id: &str,
    card: usize,
    phone: usize,
) -> AppResult<ContactLead> {
    let stored = sqlx::query("SELECT shared_contacts FROM messages WHERE workspace_id = $1 AND id = $2")
        .bind(workspace.id.as_str())
        .bind(message_id.trim())
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found("message"))?;
    let cards = parse_stored(stored.try_get::<Option<String>, _>("shared_contacts")?.as_deref());
    let card = cards.get(card).ok_or_else(|| AppError::not_found("contact card"))?;
    let shared = card.phones.get(phone).ok_or_else(|| AppError::not_found("number on the contact card"))?;
    let number = number_of(shared, workspace).ok_or_else(|| {
        AppError::Unprocessable(format!(
            "`{}` is not a valid phone number (read in region {})",
            shared.phone.as_deref().or(shared.wa_id.as_deref()).unwrap_or_default(),
            workspace.region.code()
        ))
    })?;
    let name = card.name.as_deref().and_then(|n| clean_manual_name(n).ok().flatten());
    let new = NewLead { phone: number.as_str().to_string(), name, lead_status: None };
    let (lead_id, created) = match leads::create(db, workspace, new).await? {
        Created::New(lead) => (lead.id, true),
        Created::Existing(id) => (id, false),
    };
    tracing::info!(workspace = %workspace.id, lead = %lead_id, created, "lead from a shared contact card");
    Ok(ContactLead { path: lead_path(&lead_id), lead_id: lead_id.to_string(), created })
}

fn lead_path(id: &LeadId) -> String {
    format!("/leads/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_read_whatever_their_shape() {
        let cards = read_cards(&serde_json::json!([
            {"name": {"formatted_name": "Ani  Wijaya", "first_name": "Ani"},
             "phones": [{"phone": "+62 812-3456-7801", "wa_id": "6281234567801", "type": "CELL"}, "junk", {"type": "HOME"}],
             "emails": [{"email": "ani@example.com"}], "org": {"company": "Toko Ani"}},
            {"name": {"first_name": "Budi", "last_name": "Santoso"}, "phones": "not a list"},
            "not a card",
            {"unknown": true}
        ]));
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].name.as_deref(), Some("Ani Wijaya"));
        assert_eq!(cards[0].phones.len(), 1);
        assert_eq!(cards[0].org.as_deref(), Some("Toko Ani"));
        assert_eq!(cards[1].name.as_deref(), Some("Budi Santoso"));
        assert_eq!(summary(&cards).as_deref(), Some("Ani Wijaya, +62 812-3456-7801 + 1 more"));
        assert!(read_cards(&serde_json::json!({"name": "x"})).is_empty());
        let stored = serde_json::to_string(&cards).unwrap();
        assert_eq!(parse_stored(Some(&stored)), cards);
        assert!(parse_stored(Some("{broken")).is_empty());
    }
}
