//! Contact cards a customer shared, shown in the Inbox thread: the name, the company
//! and each number, with "Add as lead" (or "Open lead" when the number already belongs
//! to one). The button is a plain form, so it works without JavaScript: the server
//! function then redirects to the lead; with JavaScript the page navigates there.

use super::api::{AddContactLead, ContactCardView};
use super::i18n::td;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn ContactCards(message_id: String, cards: Vec<ContactCardView>) -> impl IntoView {
    let strings = td();
    let add = ServerAction::<AddContactLead>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(lead)) = add.value().get() {
            navigate(&lead.path, Default::default());
        }
    });
    view! {
        <ul class="contact-cards" role="list">
            {cards.into_iter().enumerate().map(|(card_index, card)| {
                let name = if card.name.is_empty() { strings.shared_contact.to_string() } else { card.name.clone() };
                let message_id = message_id.clone();
                view! {
                    <li class="contact-card" data-testid="contact-card">
                        <p class="contact-name">{name.clone()}</p>
                        {card.org.clone().map(|org| view! { <p class="contact-org muted">{org}</p> })}
                        <ul class="contact-phones" role="list">
                            {card.phones.into_iter().map(|phone| {
                                let message_id = message_id.clone();
                                let label = format!("{} {} ({})", strings.add_as_lead, phone.display, name);
                                let action = match (phone.lead_id.clone(), phone.addable) {
                                    (Some(lead_id), _) => view! {
                                        <a class="button secondary small" href=format!("/leads/{lead_id}")
                                            aria-label=format!("{} {}", strings.open_lead, phone.display)>
                                            {strings.open_lead}
                                        </a>
                                    }.into_any(),
                                    (None, true) => view! {
                                        <ActionForm action=add attr:class="contact-add">
                                            <input type="hidden" name="message_id" value=message_id.clone()/>
                                            <input type="hidden" name="card" value=card_index.to_string()/>
                                            <input type="hidden" name="phone" value=phone.index.to_string()/>
                                            <button type="submit" class="button primary small" aria-label=label>
                                                {strings.add_as_lead}
                                            </button>
                                        </ActionForm>
                                    }.into_any(),
                                    (None, false) => view! { <span class="muted small">{strings.invalid_number}</span> }.into_any(),
                                };
                                view! {
                                    <li class="contact-phone">
                                        <span class="contact-number">{phone.display.clone()}</span>
                                        {phone.kind.clone().map(|kind| view! { <span class="muted small">{kind.to_lowercase()}</span> })}
                                        {action}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        {(!card.emails.is_empty()).then(|| view! {
                            <p class="contact-emails muted small">{card.emails.join(", ")}</p>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || match add.value().get() {
            Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
            _ => None,
        }}
    }
}
