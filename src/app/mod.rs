//! The web app, shared by the server (which renders it) and the browser (which
//! hydrates it). `shell` owns the HTML document; `App` owns the routes. Every page
//! under `SignedInLayout` requires a session; each server function checks it again.

pub mod account;
pub mod api;
pub mod composer;
pub mod contact_cards;
pub mod i18n;
pub mod import;
pub mod inbox;
pub mod kapso_settings;
pub mod leads;
pub mod live;
pub mod password;
pub mod settings;
pub mod team;
pub mod webhook_health;

use api::{get_me, Me, UiError};
use i18n::t;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Title};
use leptos_router::{
    components::{Outlet, ParentRoute, Route, Router, Routes, A},
    hooks::use_location,
    path, SsrMode,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        // The page's Content-Security-Policy names this response's script nonce.
        if let (Some(nonce), Some(response)) =
            (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
        {
            if let Ok(value) = axum::http::HeaderValue::from_str(&crate::server::security::page_policy(&nonce)) {
                response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content"/>
                <meta name="color-scheme" content="light"/>
                <link rel="stylesheet" href=stylesheet_href(&options)/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The stylesheet is named in the document (server-rendered only), under its hashed
/// name when the build made one (see `server::assets`).
fn stylesheet_href(options: &LeptosOptions) -> String {
    #[cfg(feature = "ssr")]
    return crate::server::assets::css_href(options);
    #[cfg(not(feature = "ssr"))]
    format!("/{}/leadline.css", options.site_pkg_dir)
}

/// The signed-in person, loaded once per page load and shared by every page.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Option<Me>, UiError>>);

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let me = Resource::new(|| (), |_| get_me());
    provide_context(MeResource(me));
    live::provide_clock();
    live::provide_workspace_changed();
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title formatter=|page: String| if page.is_empty() { t().app_name.to_string() } else { format!("{page} · {}", t().app_name) }/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view=account::SignInPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=account::SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/invite") view=team::InvitePage ssr=SsrMode::Async/>
                <Route path=path!("/reset-password") view=password::ResetPasswordPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=SignedInLayout ssr=SsrMode::Async>
                    <Route path=path!("/") view=|| view! { <GoTo path="/leads".to_string()/> }/>
                    <Route path=path!("/leads") view=leads::LeadsPage/>
                    <Route path=path!("/leads/merge") view=leads::MergePage/>
                    <Route path=path!("/leads/:id") view=leads::LeadPage/>
                    <Route path=path!("/inbox") view=inbox::InboxPage/>
                    <Route path=path!("/inbox/:conversation") view=inbox::InboxPage/>
                    <Route path=path!("/settings") view=settings::SettingsPage/>
                    <Route path=path!("/setup/done") view=account::SetupDonePage/>
                    <Route path=path!("/account") view=password::AccountPage/>
                    <Route path=path!("/import") view=import::ImportUploadPage/>
                    <Route path=path!("/import/:id") view=import::ImportPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The frame of every signed-in page: navigation, workspace switcher, sign-out. Without
/// a session it sends the browser to the sign-in page (a 302 when rendered on the
/// server), remembering where it was going.
#[component]
fn SignedInLayout() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => {
                        provide_context(me.clone());
                        view! {
                            <NavBar me/>
                            <main id="main" class="page"><Outlet/></main>
                        }.into_any()
                    }
                    _ => {
                        let here = format!("{}{}", location.pathname.get_untracked(), location.search.get_untracked());
                        let target = format!("/login?next={}", crate::url::encode(&here));
                        view! { <GoTo path=target/> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn NavBar(me: Me) -> impl IntoView {
    let strings = t();
    let workspaces = me.workspaces.clone();
    let current = me.workspace.id.clone();
    let switcher = (workspaces.len() > 1).then(|| {
        view! {
            <form class="switcher" method="post" action="/workspace">
                <label for="workspace-switch" class="visually-hidden">{strings.switch_workspace}</label>
                <select
                    id="workspace-switch"
                    name="workspace_id"
                    on:change=|ev| {
                        use wasm_bindgen::JsCast;
                        if let Some(form) = event_target::<web_sys::HtmlSelectElement>(&ev).form() {
                            let _ = form.unchecked_into::<web_sys::HtmlFormElement>().request_submit();
                        }
                    }
                >
                    {workspaces
                        .into_iter()
                        .map(|w| {
                            let selected = w.id == current;
                            view! { <option value=w.id selected=selected>{w.name}</option> }
                        })
                        .collect_view()}
                </select>
                <noscript><button type="submit">{strings.switch}</button></noscript>
            </form>
        }
    });
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/leads">
                <span class="brand-mark" aria-hidden="true">"L"</span>
                {strings.app_name}
            </a>
            <nav aria-label="Main">
                <A href="/leads" exact=false>{strings.nav_database}</A>
                <A href="/inbox" exact=false>{strings.nav_inbox}</A>
                <a href="/leads?needs_reply=1" class="needs-reply-link" data-testid="needs-reply-nav">
                    {i18n::tr().nav_needs_reply}
                    <NeedsReplyBadge first=me.needs_reply/>
                </a>
                <A href="/settings">{strings.nav_settings}</A>
            </nav>
            <div class="topbar-end">
                {match switcher {
                    Some(form) => form.into_any(),
                    None => view! { <span class="workspace-name">{me.workspace.name.clone()}</span> }.into_any(),
                }}
                <a class="me" href="/account" title=format!("{} ({})", strings.account_nav, me.email)>{me.email.clone()}</a>
                <a class="account-link" href="/account">{strings.account_nav}</a>
                <form method="post" action="/logout">
                    <button type="submit" class="link-button">{strings.sign_out}</button>
                </form>
            </div>
        </header>
    }
}

/// The number of leads waiting for an answer: as of the page load, then asked again
/// whenever a live change reaches the page.
#[component]
fn NeedsReplyBadge(first: i64) -> impl IntoView {
    let count = RwSignal::new(first);
    if let Some(live::WorkspaceChanged(changed)) = use_context::<live::WorkspaceChanged>() {
        Effect::new(move |previous: Option<u32>| {
            let now = changed.get();
            if previous.is_some_and(|p| p != now) {
                leptos::task::spawn_local(async move {
                    if let Ok(n) = api::needs_reply_count().await {
                        count.set(n);
                    }
                });
            }
            now
        });
    }
    view! {
        {move || (count.get() > 0).then(|| view! {
            " "<span class="badge" data-testid="needs-reply-count">{badge_count(count.get())}</span>
        })}
    }
}

/// "7", "999+" (the server counts up to 1,000).
fn badge_count(n: i64) -> String {
    if n > 999 {
        "999+".to_string()
    } else {
        n.to_string()
    }
}

/// Sends the browser elsewhere: a real `302` when the page is rendered on the server
/// (whatever the request's `Accept`), a client-side navigation in the browser.
#[component]
pub fn GoTo(path: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let (Some(response), Ok(location)) =
            (use_context::<leptos_axum::ResponseOptions>(), axum::http::HeaderValue::from_str(&path))
        {
            response.set_status(axum::http::StatusCode::FOUND);
            response.insert_header(axum::http::header::LOCATION, location);
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let navigate = leptos_router::hooks::use_navigate();
        request_animation_frame(move || navigate(&path, Default::default()));
    }
}

/// Sets the HTTP status of the page being rendered on the server (no-op in the browser).
pub fn set_status(status: u16) {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(code) = axum::http::StatusCode::from_u16(status) {
                response.set_status(code);
            }
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

/// The 404 page, with a real 404 status.
#[component]
pub fn NotFound(#[prop(optional, into)] message: Option<String>) -> impl IntoView {
    set_status(404);
    let strings = t();
    view! {
        <Title text=strings.not_found_title/>
        <section class="not-found">
            <h1>{strings.not_found_title}</h1>
            <p>{message.unwrap_or_else(|| strings.not_found_body.to_string())}</p>
            <a class="button" href="/leads">{strings.back_to_database}</a>
        </section>
    }
}

/// Shows a refused or failed server call, with the status it stands for.
#[component]
pub fn ErrorNotice(error: UiError) -> impl IntoView {
    match &error {
        UiError::NotFound(_) => set_status(404),
        UiError::Forbidden(_) => set_status(403),
        UiError::SignedOut => set_status(401),
        UiError::Invalid(_) => set_status(400),
        UiError::Unavailable(_) => set_status(503),
        UiError::Failed(_) => set_status(500),
    }
    view! {
        <section class="error-notice">
            <h2>{t().error_title}</h2>
            <p>{error.to_string()}</p>
        </section>
    }
}
