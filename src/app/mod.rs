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
    path, Lazy, LazyRoute, SsrMode,
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
    #[cfg(feature = "ssr")]
    provide_context(PreloadedChunks(StoredValue::new(Vec::new())));
    live::provide_clock();
    live::provide_workspace_changed();
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title formatter=|page: String| if page.is_empty() { t().app_name.to_string() } else { format!("{page} · {}", t().app_name) }/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view=account::SignInPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/invite") view={Lazy::<InviteRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/reset-password") view={Lazy::<ResetPasswordRoute>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=SignedInLayout ssr=SsrMode::Async>
                    <Route path=path!("/") view=|| view! { <GoTo path="/leads".to_string()/> }/>
                    <Route path=path!("/leads") view=leads::LeadsPage/>
                    <Route path=path!("/leads/merge") view={Lazy::<MergeRoute>::new()}/>
                    <Route path=path!("/leads/:id") view={Lazy::<LeadRoute>::new()}/>
                    <Route path=path!("/inbox") view={Lazy::<InboxRoute>::new()}/>
                    <Route path=path!("/inbox/:conversation") view={Lazy::<InboxRoute>::new()}/>
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()}/>
                    <Route path=path!("/setup/done") view={Lazy::<SetupDoneRoute>::new()}/>
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()}/>
                    <Route path=path!("/import") view={Lazy::<ImportUploadRoute>::new()}/>
                    <Route path=path!("/import/:id") view={Lazy::<ImportRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Pages loaded on demand. The browser bundle a page needs before it becomes interactive
/// holds the Database (`/leads`), the sign-in page and what every page shares; the pages
/// below are split out of it at build time (`#[lazy]`; `build_site` runs the split) into
/// three groups, each a wasm module of its own, fetched the first time one of its pages is
/// shown: on a direct load, hydration waits for it (the server names its files in
/// `<link rel="preload">`); on a client-side navigation, the router does. On the server
/// every page renders as before.
///
/// Three groups rather than a module per page: code that several split modules share but
/// the main bundle does not becomes a chunk of its own for each set of modules sharing
/// it, and with a module per page Settings needed 37 files (on a phone's 150 ms round
/// trips, six connections at a time). Three groups share at most four such chunks.
#[derive(Clone, Copy, Debug)]
enum LazyPage {
    Setup,
    SetupDone,
    Invite,
    ResetPassword,
    Account,
    Settings,
    ImportUpload,
    Import,
    Merge,
    Lead,
}

/// The workspace's rarely used pages: Settings, the account, CSV import, first-run setup,
/// invitation and password-reset links.
#[leptos::lazy]
fn admin_pages(page: LazyPage) -> AnyView {
    preload_chunks();
    match page {
        LazyPage::Setup => view! { <account::SetupPage/> }.into_any(),
        LazyPage::SetupDone => view! { <account::SetupDonePage/> }.into_any(),
        LazyPage::Invite => view! { <team::InvitePage/> }.into_any(),
        LazyPage::ResetPassword => view! { <password::ResetPasswordPage/> }.into_any(),
        LazyPage::Account => view! { <password::AccountPage/> }.into_any(),
        LazyPage::Settings => view! { <settings::SettingsPage/> }.into_any(),
        LazyPage::ImportUpload => view! { <import::ImportUploadPage/> }.into_any(),
        LazyPage::Import => view! { <import::ImportPage/> }.into_any(),
        _ => view! { <NotFound/> }.into_any(),
    }
}

/// A lead's own page and the merge preview, both reached from the Database.
#[leptos::lazy]
fn lead_pages(page: LazyPage) -> AnyView {
    preload_chunks();
    match page {
        LazyPage::Lead => view! { <leads::LeadPage/> }.into_any(),
        LazyPage::Merge => view! { <leads::MergePage/> }.into_any(),
        _ => view! { <NotFound/> }.into_any(),
    }
}

/// The Inbox: conversations, a thread, the composer, contact cards.
#[leptos::lazy]
fn inbox_page() -> AnyView {
    preload_chunks();
    view! { <inbox::InboxPage/> }.into_any()
}

/// A route showing a page of a lazily loaded group. `preload` fetches the group's module
/// when the route is matched, before its view is asked for: hydration needs the page's
/// code at hand when it reaches the page (the router awaits every matched route's
/// `preload` first), or it finds server-rendered content where it expects a placeholder.
/// (`#[lazy]` makes a `__preload_<function>` in the browser half only.)
macro_rules! lazy_routes {
    ($($route:ident => $load:expr, $preload:ident;)*) => {$(
        struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                $load.await
            }

            async fn preload() {
                #[cfg(feature = "hydrate")]
                $preload().await;
            }
        }
    )*};
}

lazy_routes! {
    SetupRoute => admin_pages(LazyPage::Setup), __preload_admin_pages;
    SetupDoneRoute => admin_pages(LazyPage::SetupDone), __preload_admin_pages;
    InviteRoute => admin_pages(LazyPage::Invite), __preload_admin_pages;
    ResetPasswordRoute => admin_pages(LazyPage::ResetPassword), __preload_admin_pages;
    AccountRoute => admin_pages(LazyPage::Account), __preload_admin_pages;
    SettingsRoute => admin_pages(LazyPage::Settings), __preload_admin_pages;
    ImportUploadRoute => admin_pages(LazyPage::ImportUpload), __preload_admin_pages;
    ImportRoute => admin_pages(LazyPage::Import), __preload_admin_pages;
    MergeRoute => lead_pages(LazyPage::Merge), __preload_lead_pages;
    LeadRoute => lead_pages(LazyPage::Lead), __preload_lead_pages;
    InboxRoute => inbox_page(), __preload_inbox_page;
}

/// On the server, while a lazy page renders: names its wasm files in `<head>` (`<link
/// rel="preload">`, registered with leptos_meta and so nothing in the body), so that a
/// browser loading the page directly fetches them alongside the main bundle. Leptos
/// records the split points a render passes through (`PrefetchLazyFn`); this page's group
/// is among them by now, since this runs inside its split function.
fn preload_chunks() {
    #[cfg(feature = "ssr")]
    {
        use leptos::prelude::ReadValue;
        use leptos::prelude::WriteValue;
        let (Some(leptos::PrefetchLazyFn(points)), Some(PreloadedChunks(named))) =
            (use_context::<leptos::PrefetchLazyFn>(), use_context::<PreloadedChunks>())
        else {
            return;
        };
        let points: Vec<&str> = points.read_value().iter().copied().collect();
        for href in crate::server::assets::chunk_hrefs(&points) {
            if named.read_value().contains(&href) {
                continue;
            }
            named.write_value().push(href.clone());
            let _ =
                view! { <Link rel="preload" href=href as_="fetch" type_="application/wasm" crossorigin="anonymous"/> }
                    .to_html();
        }
    }
}

/// The wasm files this response has named for preloading already (a page's view may run
/// more than once while the server renders it).
#[cfg(feature = "ssr")]
#[derive(Clone, Copy)]
struct PreloadedChunks(StoredValue<Vec<String>>);

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
