//! Settings → Replies through Kapso (owners): the API key replies are sent with (shown
//! masked, never again in full), the WhatsApp Business Account whose templates are
//! offered, and Kapso's last refusal of the key. A plain form: works without JavaScript.

use super::api::{kapso_settings, KapsoSettingsView, SaveKapso, UiError};
use super::i18n::{t, tr};
use super::ErrorNotice;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Owners only: for anyone else the server function refuses and nothing is shown.
#[component]
pub fn KapsoSettings() -> impl IntoView {
    let save = ServerAction::<SaveKapso>::new();
    let settings = Resource::new(move || save.version().get(), |_| kapso_settings());
    view! {
        <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(UiError::Forbidden(_)) => None,
                    Ok(view) => Some(view! { <KapsoForm view save/> }.into_any()),
                    Err(error) => Some(view! { <ErrorNotice error/> }.into_any()),
                }
            })}
        </Transition>
    }
}

#[component]
fn KapsoForm(view: KapsoSettingsView, save: ServerAction<SaveKapso>) -> impl IntoView {
    let strings = tr();
    let url = use_query_map();
    let outcome = move || match save.value().get() {
        Some(Ok(_)) => Some((false, strings.kapso_saved.to_string())),
        Some(Err(error)) => Some((true, error.to_string())),
        None => match url.read().get("done").as_deref().or(url.read().get("error").as_deref()) {
            Some("kapso") if url.read().get("error").is_some() => Some((true, strings.kapso_invalid.to_string())),
            Some("kapso") => Some((false, strings.kapso_saved.to_string())),
            _ => None,
        },
    };
    view! {
        <section class="card" id="kapso" aria-labelledby="replies-title" data-testid="kapso-settings">
            <h2 id="replies-title">{strings.kapso_title}</h2>
            <p class="hint">{strings.kapso_intro}</p>
            {view.key_problem.clone().map(|problem| view! { <p class="alert" role="alert">{problem}</p> })}
            {move || outcome().map(|(bad, text)| {
                let class = if bad { "alert" } else { "notice" };
                view! { <p class=class role="status">{text}</p> }
            })}
            <ActionForm action=save attr:class="stacked-form">
                {view.key_masked.clone().map(|masked| view! {
                    <p class="muted">{strings.kapso_key_saved}": "<code data-testid="kapso-key-masked">{masked}</code></p>
                })}
                <div class="field">
                    <label for="kapso-key">{strings.kapso_key}</label>
                    <input id="kapso-key" name="api_key" type="password" autocomplete="off" maxlength="512"
                        aria-describedby="kapso-key-hint"/>
                    <p id="kapso-key-hint" class="hint">{strings.kapso_key_hint}</p>
                </div>
                <div class="field">
                    <label for="kapso-waba">{strings.kapso_waba}</label>
                    <input id="kapso-waba" name="waba_id" inputmode="numeric" maxlength="32"
                        value=view.waba_id.clone().unwrap_or_default()/>
                </div>
                {view.key_masked.is_some().then(|| view! {
                    <label class="checkbox"><input type="checkbox" name="remove_key" value="true"/>" "{strings.kapso_remove_key}</label>
                })}
                <button type="submit" class="button primary">{strings.kapso_save}</button>
            </ActionForm>
        </section>
    }
}
