//! The person's own account (`/account`: change password, sign out everywhere) and the
//! page an operator's reset link opens (`/reset-password?token=…`). Plain forms posting
//! to `server::passwords` and `server::auth`; they work without JavaScript.

use super::api::{check_password_reset, Me};
use super::i18n::t;
use super::ErrorNotice;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn password_error(code: &str) -> &'static str {
    let strings = t();
    match code {
        "mismatch" => strings.err_mismatch,
        "weak" => strings.err_weak,
        "wrong" => strings.err_wrong_current,
        "too_many" => strings.sign_in_too_many,
        "busy" => strings.err_busy,
        _ => strings.reset_closed,
    }
}

/// The fields of a new password, typed twice.
#[component]
fn NewPasswordFields() -> impl IntoView {
    let strings = t();
    view! {
        <label for="new-password">{strings.new_password}</label>
        <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="10" maxlength="512"/>
        <label for="new-password-confirm">{strings.confirm_password}</label>
        <input id="new-password-confirm" name="new_password_confirm" type="password" autocomplete="new-password" required minlength="10" maxlength="512"/>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let strings = t();
    let email = use_context::<Me>().map(|me| me.email).unwrap_or_default();
    let url = use_query_map();
    let error = move || url.read().get("error").map(|code| password_error(&code));
    let done = move || url.read().get("done").is_some_and(|d| d == "password");
    view! {
        <Title text=strings.account_title/>
        <div class="page-header"><h1>{strings.account_title}</h1></div>
        <section class="card narrow" aria-labelledby="password-title">
            <h2 id="password-title">{strings.change_password}</h2>
            <p class="hint">{strings.change_password_intro}</p>
            {move || done().then(|| view! { <p class="notice" role="status">{t().password_changed}</p> })}
            {move || error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
            <form method="post" action="/account/password" class="stacked">
                <input type="hidden" name="username" autocomplete="username" value=email/>
                <label for="current-password">{strings.current_password}</label>
                <input id="current-password" name="current_password" type="password" autocomplete="current-password" required/>
                <NewPasswordFields/>
                <button type="submit" class="button primary">{strings.change_password}</button>
            </form>
        </section>
        <section class="card narrow" aria-labelledby="everywhere-title">
            <h2 id="everywhere-title">{strings.sign_out_everywhere}</h2>
            <p class="hint">{strings.sign_out_everywhere_intro}</p>
            <form method="post" action="/logout/everywhere">
                <button type="submit" class="button secondary">{strings.sign_out_everywhere}</button>
            </form>
        </section>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let strings = t();
    let url = use_query_map();
    let token = move || url.read().get("token").unwrap_or_default();
    let error = move || url.read().get("error").map(|code| password_error(&code));
    let open = Resource::new(token, check_password_reset);
    view! {
        <Title text=strings.reset_title/>
        <main id="main" class="auth-page">
            <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
                {move || Suspend::new(async move {
                    match open.await {
                        Ok(Some(email)) => view! {
                            <form class="auth-card" method="post" action="/reset-password">
                                <div class="brand big"><span class="brand-mark" aria-hidden="true">"L"</span>{strings.app_name}</div>
                                <h1>{strings.reset_title}</h1>
                                <p>{strings.reset_intro}" "<strong>{email.clone()}</strong></p>
                                {error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
                                <input type="hidden" name="token" value=token()/>
                                <input type="hidden" name="username" autocomplete="username" value=email/>
                                <NewPasswordFields/>
                                <button type="submit" class="button primary wide">{strings.reset_button}</button>
                            </form>
                        }.into_any(),
                        Ok(None) => {
                            super::set_status(410);
                            view! {
                                <div class="auth-card">
                                    <h1>{strings.reset_title}</h1>
                                    <p class="alert" role="alert">{strings.reset_closed}</p>
                                    <a class="button primary" href="/login">{strings.sign_in}</a>
                                </div>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
