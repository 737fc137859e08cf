//! Signing in (`/login`, a plain form that works without JavaScript) and the first
//! run (`/setup?token=…`, the one-time link `leadline serve` prints on a fresh install).

use super::api::{setup_open, take_revealed_secrets, CompleteSetup, RevealedSecrets};
use super::i18n::t;
use super::{ErrorNotice, MeResource};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SignInPage() -> impl IntoView {
    let strings = t();
    let url = use_query_map();
    let MeResource(me) = expect_context::<MeResource>();
    let error = move || {
        url.read().get("error").map(|code| match code.as_str() {
            "too_many" => strings.sign_in_too_many,
            "no_workspace" => strings.sign_in_no_workspace,
            _ => strings.sign_in_invalid,
        })
    };
    let notice = move || {
        url.read().get("notice").and_then(|code| match code.as_str() {
            "signed_out_everywhere" => Some(strings.signed_out_everywhere),
            "password_reset" => Some(strings.password_reset_done),
            _ => None,
        })
    };
    let email = move || url.read().get("email").unwrap_or_default();
    let next = move || url.read().get("next").unwrap_or_default();
    view! {
        <Title text=strings.sign_in_title/>
        <Suspense>
            {move || Suspend::new(async move {
                // Already signed in: straight on.
                matches!(me.await, Ok(Some(_))).then(|| view! { <super::GoTo path="/leads".to_string()/> })
            })}
        </Suspense>
        <main id="main" class="auth-page">
            <form class="auth-card" method="post" action="/login">
                <div class="brand big"><span class="brand-mark" aria-hidden="true">"L"</span>{strings.app_name}</div>
                <h1>{strings.sign_in_title}</h1>
                {move || notice().map(|message| view! { <p class="notice" role="status">{message}</p> })}
                {move || error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
                <input type="hidden" name="next" value=next/>
                <label for="email">{strings.email}</label>
                <input id="email" name="email" type="email" autocomplete="username" required value=email/>
                <label for="password">{strings.password}</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit" class="button primary wide">{strings.sign_in}</button>
                <p class="hint">{strings.forgot_password}</p>
            </form>
        </main>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let strings = t();
    let url = use_query_map();
    let token = move || url.read().get("token").unwrap_or_default();
    let open = Resource::new(token, setup_open);
    view! {
        <Title text=strings.setup_title/>
        <main id="main" class="auth-page">
            <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
                {move || Suspend::new(async move {
                    match open.await {
                        Ok(true) => view! { <SetupForm token=token()/> }.into_any(),
                        Ok(false) => view! {
                            <NoticeCard title=t().setup_title text=t().setup_closed href="/login" link=t().sign_in/>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let strings = t();
    let action = ServerAction::<CompleteSetup>::new();
    let result = action.value();
    view! {
        <Show
            when=move || matches!(result.get(), Some(Ok(_)))
            fallback=move || {
                let token = token.clone();
                view! {
                    <ActionForm action attr:class="auth-card wide">
                        <div class="brand big"><span class="brand-mark" aria-hidden="true">"L"</span>{strings.app_name}</div>
                        <h1>{strings.setup_title}</h1>
                        <p>{strings.setup_intro}</p>
                        {move || match result.get() {
                            Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
                            _ => None,
                        }}
                        <input type="hidden" name="token" value=token.clone()/>
                        <fieldset>
                            <legend>{strings.workspace_section}</legend>
                            <label for="workspace_name">{strings.workspace_name}</label>
                            <input id="workspace_name" name="workspace_name" required maxlength="120"/>
                            <label for="phone_number_id">{strings.phone_number_id}</label>
                            <input id="phone_number_id" name="phone_number_id" required aria-describedby="pnid-hint"/>
                            <p id="pnid-hint" class="hint">{strings.phone_number_id_hint}</p>
                            <div class="row">
                                <div>
                                    <label for="region">{strings.region}</label>
                                    <input id="region" name="region" value="ID" maxlength="2" size="3"/>
                                </div>
                                <div class="grow">
                                    <label for="time_zone">{strings.time_zone}</label>
                                    <input id="time_zone" name="time_zone" value="Asia/Jakarta"/>
                                </div>
                            </div>
                        </fieldset>
                        <fieldset>
                            <legend>{strings.members_section}</legend>
                            <label for="setup-email">{strings.owner_email}</label>
                            <input id="setup-email" name="email" type="email" autocomplete="username" required/>
                            <label for="setup-password">{strings.owner_password}</label>
                            <input id="setup-password" name="password" type="password" autocomplete="new-password" required minlength="10"/>
                        </fieldset>
                        <button type="submit" class="button primary wide" disabled=move || action.pending().get()>
                            {strings.create_workspace}
                        </button>
                    </ActionForm>
                }
            }
        >
            {move || match result.get() {
                Some(Ok(secrets)) => Some(view! { <SetupDone secrets/> }),
                _ => None,
            }}
        </Show>
    }
}

/// Where a setup posted without JavaScript lands (`/setup/done`): the secrets it
/// issued, once.
#[component]
pub fn SetupDonePage() -> impl IntoView {
    let revealed = Resource::new(|| (), |_| take_revealed_secrets());
    view! {
        <Title text=t().setup_done_title/>
        <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match revealed.await {
                    Ok(Some(secrets)) => view! { <SetupDone secrets/> }.into_any(),
                    Ok(None) => view! {
                        <NoticeCard title=t().setup_done_title text=t().secrets_already_shown href="/settings" link=t().settings_title/>
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A card that explains where things stand and links on.
#[component]
fn NoticeCard(title: &'static str, text: &'static str, href: &'static str, link: &'static str) -> impl IntoView {
    view! {
        <div class="auth-card">
            <h1>{title}</h1>
            <p>{text}</p>
            <a class="button primary" href=href>{link}</a>
        </div>
    }
}

#[component]
fn SetupDone(secrets: RevealedSecrets) -> impl IntoView {
    let strings = t();
    view! {
        <div class="auth-card wide">
            <h1>{strings.setup_done_title}</h1>
            <p>{strings.setup_done_intro}</p>
            <SecretList secrets/>
            <p class="hint">{strings.shown_once}</p>
            // A full page load, so every page sees the new session.
            <a class="button primary" href="/leads" rel="external">{strings.go_to_database}</a>
        </div>
    }
}

/// Freshly issued secrets, each in a read-only field to copy from.
#[component]
pub fn SecretList(secrets: RevealedSecrets) -> impl IntoView {
    let strings = t();
    let rows = [
        (strings.webhook_url_label, Some(secrets.webhook_url), "webhook-url"),
        (strings.webhook_secret, secrets.webhook_secret, "webhook-secret"),
        (strings.verify_token, secrets.verify_token, "verify-token"),
        (strings.api_token, secrets.api_token, "api-token"),
    ];
    view! {
        <dl class="secrets">
            {rows.into_iter().filter_map(|(label, value, test_id)| value.map(|value| view! {
                <dt>{label}</dt>
                <dd><input class="secret" readonly value=value aria-label=label data-testid=test_id/></dd>
            })).collect_view()}
        </dl>
    }
}
