//! The Database view (`/leads`): every lead, the most recently active on top, edited
//! in place, updated live, two of them selectable for merging. What a live change does
//! to the table is decided in `table.rs`; the editable name and status cells are in
//! `cells.rs`. The lead page (`/leads/:id`, its identities and history) is in
//! `detail.rs`; the merge preview and confirmation (`/leads/merge`) in `merge.rs`.

mod cells;
mod detail;
mod merge;
mod table;

pub use detail::LeadPage;
pub use merge::MergePage;

use super::api::{fetch_lead_row, list_leads, LeadList, LeadRow, LeadsQuery, Me, SortKey};
use super::i18n::{lead_count, relative_time, source_label, status_label, t};
use super::live::{self, LeadEvent, LiveState};
use super::ErrorNotice;
use crate::model::LeadStatus;
use leptos::{either::Either, html, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    NavigateOptions,
};
use table::{LiveTable, TableRow};

fn query_from_url(map: &leptos_router::params::ParamsMap) -> LeadsQuery {
    LeadsQuery {
        q: map.get("q").unwrap_or_default(),
        status: map.get("status").unwrap_or_default(),
        sort: map.get("sort").unwrap_or_default(),
        order: map.get("order").unwrap_or_default(),
        cursor: map.get("cursor").unwrap_or_default(),
        needs_reply: map.get("needs_reply").unwrap_or_default(),
    }
}

#[component]
pub fn LeadsPage() -> impl IntoView {
    let url = use_query_map();
    let query = Memo::new(move |_| query_from_url(&url.read()));
    let page = Resource::new(move || query.get(), list_leads);
    let edit_error = move || url.read().get("edit_error");
    view! {
        <Title text=move || if query.read().needs_reply() { super::i18n::tr().needs_reply_title } else { t().database_title }/>
        <div class="page-header">
            <h1>{move || if query.read().needs_reply() { super::i18n::tr().needs_reply_title } else { t().database_title }}</h1>
            <super::import::DataLinks query/>
        </div>
        {move || edit_error().map(|message| view! {
            <p class="alert" role="alert">{format!("{}: {message}", t().name_not_saved)}</p>
        })}
        <SearchBar query/>
        <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <LeadsTable data query=query.get_untracked()/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Search and status filter. A GET form, so it works without JavaScript; with it, the
/// results follow the typing (debounced) and the filter applies on change.
#[component]
fn SearchBar(query: Memo<LeadsQuery>) -> impl IntoView {
    let strings = t();
    let navigate = use_navigate();
    let pending: StoredValue<Option<TimeoutHandle>> = StoredValue::new(None);
    let form_ref = NodeRef::<html::Form>::new();
    let go = move || {
        let Some(form) = form_ref.get_untracked() else { return };
        let data = leptos::web_sys::FormData::new_with_form(&form).ok();
        let field = |name: &str| data.as_ref().and_then(|d| d.get(name).as_string()).unwrap_or_default();
        let current = query.get_untracked();
        let next = LeadsQuery { q: field("q"), status: field("status"), cursor: String::new(), ..current };
        navigate(&next.href(None), NavigateOptions { replace: true, scroll: false, ..Default::default() });
    };
    let go_later = {
        let go = go.clone();
        move || {
            if let Some(handle) = pending.get_value() {
                handle.clear();
            }
            let go = go.clone();
            pending.set_value(set_timeout_with_handle(go, std::time::Duration::from_millis(250)).ok());
        }
    };
    let current = query.get_untracked();
    let status_now = current.status.clone();
    view! {
        <form class="toolbar" role="search" method="get" action="/leads" node_ref=form_ref
            on:submit={
                let go = go.clone();
                move |ev| {
                    ev.prevent_default();
                    go();
                }
            }
        >
            <div class="field grow">
                <label for="lead-search">{strings.search_label}</label>
                <input id="lead-search" type="search" name="q" autocomplete="off"
                    placeholder=strings.search_placeholder value=current.q.clone()
                    on:input=move |_| go_later()/>
            </div>
            <div class="field">
                <label for="status-filter">{strings.status_filter_label}</label>
                <select id="status-filter" name="status" on:change={
                    let go = go.clone();
                    move |_| go()
                }>
                    <option value="" selected=status_now.is_empty()>{strings.all_statuses}</option>
                    {LeadStatus::ALL
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str() selected=status_now == s.as_str()>{status_label(s)}</option> })
                        .collect_view()}
                </select>
            </div>
            {(!current.sort.is_empty()).then(|| view! { <input type="hidden" name="sort" value=current.sort.clone()/> })}
            {(!current.order.is_empty()).then(|| view! { <input type="hidden" name="order" value=current.order.clone()/> })}
            <button type="submit" class="button secondary">{strings.apply_filters}</button>
        </form>
    }
}

/// A row and its own signal, so live updates and edits change cells in place.
#[derive(Clone, PartialEq)]
struct RowEntry {
    id: String,
    data: RwSignal<LeadRow>,
}

impl TableRow for RowEntry {
    fn new(row: LeadRow) -> Self {
        RowEntry { id: row.id.clone(), data: RwSignal::new(row) }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn last_activity_ms(&self) -> Option<i64> {
        self.data.with_untracked(|row| row.last_activity_ms)
    }
    fn set(&mut self, row: LeadRow) {
        self.data.set(row);
    }
}

/// The table and its live updates: the signals and fetching around `LiveTable`, which
/// decides what a change does (table.rs).
#[component]
fn LeadsTable(data: LeadList, query: LeadsQuery) -> impl IntoView {
    let strings = t();
    let me = use_context::<Me>();
    let server_now = data.now_ms;
    let is_empty_workspace = data.total == 0 && query.q.is_empty() && query.status.is_empty();
    let table = RwSignal::new(LiveTable::<RowEntry>::new(data.rows, data.total, &query));
    let rows = Memo::new(move |_| table.with(|t| t.rows().to_vec()));
    let total = Memo::new(move |_| table.with(LiveTable::total));
    let arrived_elsewhere = Memo::new(move |_| table.with(LiveTable::arrived_elsewhere));
    let next_cursor = RwSignal::new(data.next_cursor);
    let editing = RwSignal::new(None::<String>);
    let loading_more = RwSignal::new(false);

    let apply = {
        let query = query.clone();
        move |event: LeadEvent| {
            let query = query.clone();
            spawn_local(async move {
                let Ok(found) = fetch_lead_row(event.lead_id.clone(), query).await else { return };
                let editing = editing.get_untracked();
                table.update(|t| t.apply(&event, found, editing.as_deref()));
            });
        }
    };
    let resync = {
        let query = query.clone();
        move || {
            let query = LeadsQuery { cursor: String::new(), ..query.clone() };
            spawn_local(async move {
                let Ok(page) = list_leads(query).await else { return };
                table.update(|t| t.resync(page.rows, page.total));
            });
        }
    };
    let live_state = live::subscribe(move || Some(server_now), apply, resync);

    let finish_edit = move || {
        editing.set(None);
        table.update(LiveTable::finish_edit);
    };

    let load_more = {
        let query = query.clone();
        move || {
            let Some(cursor) = next_cursor.get_untracked() else { return };
            loading_more.set(true);
            let query = LeadsQuery { cursor, ..query.clone() };
            spawn_local(async move {
                if let Ok(page) = list_leads(query).await {
                    table.update(|t| t.append(page.rows));
                    next_cursor.set(page.next_cursor);
                }
                loading_more.set(false);
            });
        }
    };

    let webhook_url = me.as_ref().map(|m| m.workspace.webhook_url.clone()).unwrap_or_default();
    let more_href = {
        let query = query.clone();
        move || next_cursor.get().map(|cursor| query.href(Some(&cursor)))
    };
    let table = {
        let query = query.clone();
        move || view! { <LeadTableBody rows editing finish_edit=finish_edit server_now query=query.clone()/> }
    };
    view! {
        <div class="table-meta">
            <p class="count" aria-live="polite">{move || lead_count(total.get())}</p>
            // Two rows' checkboxes belong to this form (`form="merge-form"`): a plain GET
            // to the merge preview, with or without JavaScript.
            <form id="merge-form" method="get" action="/leads/merge" class="merge-bar">
                <button type="submit" class="button small secondary">{strings.merge_selected}</button>
            </form>
            <LiveIndicator state=live_state/>
        </div>
        {move || (arrived_elsewhere.get() > 0).then(|| view! { <p class="notice">{t().new_leads_waiting}</p> })}
        <Show when=move || rows.with(|r| !r.is_empty()) fallback=move || {
            if is_empty_workspace {
                view! { <EmptyState webhook_url=webhook_url.clone()/> }.into_any()
            } else {
                view! { <p class="empty-search">{strings.no_matches}</p> }.into_any()
            }
        }>
            {table.clone()}
        </Show>
        {move || more_href().map(|href| {
            let load_more = load_more.clone();
            view! {
                <div class="load-more">
                    <a class="button secondary" href=href aria-busy=move || loading_more.get().to_string()
                        on:click=move |ev| {
                            ev.prevent_default();
                            load_more();
                        }
                    >
                        {move || if loading_more.get() { t().loading } else { t().load_more }}
                    </a>
                </div>
            }
        })}
    }
}

#[component]
fn LiveIndicator(state: ReadSignal<LiveState>) -> impl IntoView {
    view! {
        <span class="live" role="status" class:live-on=move || state.get() == LiveState::Connected
            class:live-off=move || matches!(state.get(), LiveState::Reconnecting | LiveState::Stopped(_))>
            {move || match state.get() {
                LiveState::Connected => t().live_connected.to_string(),
                LiveState::Reconnecting => t().live_reconnecting.to_string(),
                LiveState::Stopped(why) => why,
                LiveState::Connecting => String::new(),
            }}
        </span>
    }
}

#[component]
fn EmptyState(webhook_url: String) -> impl IntoView {
    let strings = t();
    view! {
        <section class="empty-state" aria-labelledby="empty-title">
            <h2 id="empty-title">{strings.empty_title}</h2>
            <p>{strings.empty_intro}</p>
            <ol>
                <li>
                    {strings.empty_step_webhook}
                    <code class="copyable" data-testid="webhook-url">{webhook_url}</code>
                </li>
                <li>{strings.empty_step_secret}</li>
                <li>{strings.empty_step_events}</li>
            </ol>
        </section>
    }
}

#[component]
fn LeadTableBody(
    rows: Memo<Vec<RowEntry>>,
    editing: RwSignal<Option<String>>,
    finish_edit: impl Fn() + Clone + Send + Sync + 'static,
    server_now: i64,
    query: LeadsQuery,
) -> impl IntoView {
    let strings = t();
    let sorted = query.sort_column();
    let arrow = |column: SortKey| {
        (sorted == column).then(|| view! { <span class="sort-arrow" aria-hidden="true">{if query.descending() { " ↓" } else { " ↑" }}</span> })
    };
    let aria_sort = |column: SortKey| {
        if sorted == column {
            if query.descending() {
                "descending"
            } else {
                "ascending"
            }
        } else {
            "none"
        }
    };
    view! {
        <div class="table-wrap">
            <table class="leads" aria-label=strings.database_title>
                <thead>
                    <tr>
                        <th scope="col" aria-sort=aria_sort(SortKey::Name)>
                            <a href=query.sort_href("name")>{strings.col_name}{arrow(SortKey::Name)}</a>
                        </th>
                        <th scope="col">{strings.col_phone}</th>
                        <th scope="col">{strings.col_status}</th>
                        <th scope="col">{strings.col_source}</th>
                        <th scope="col" aria-sort=aria_sort(SortKey::LastActivity)>
                            <a href=query.sort_href("last_activity")>{strings.col_last_activity}{arrow(SortKey::LastActivity)}</a>
                        </th>
                        <th scope="col" aria-sort=aria_sort(SortKey::Created)>
                            <a href=query.sort_href("created")>{strings.col_created}{arrow(SortKey::Created)}</a>
                        </th>
                        <th scope="col">{strings.col_actions}</th>
                    </tr>
                </thead>
                <tbody on:keydown=move_between_rows>
                    <For each=move || rows.get() key=|entry| entry.id.clone() let:entry>
                        <LeadRowView entry editing finish_edit=finish_edit.clone() server_now/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// Arrow keys move between the name cells of the table.
fn move_between_rows(ev: leptos::ev::KeyboardEvent) {
    use leptos::wasm_bindgen::JsCast;
    let down = match ev.key().as_str() {
        "ArrowDown" => true,
        "ArrowUp" => false,
        _ => return,
    };
    let Some(target) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::HtmlElement>().ok()) else { return };
    if !target.class_list().contains("lead-name") {
        return;
    }
    let Ok(Some(row)) = target.closest("tr") else { return };
    let sibling = if down { row.next_element_sibling() } else { row.previous_element_sibling() };
    if let Some(next) = sibling.and_then(|r| r.query_selector(".lead-name").ok().flatten()) {
        ev.prevent_default();
        if let Ok(next) = next.dyn_into::<leptos::web_sys::HtmlElement>() {
            let _ = next.focus();
        }
    }
}

#[component]
fn LeadRowView(
    entry: RowEntry,
    editing: RwSignal<Option<String>>,
    finish_edit: impl Fn() + Clone + Send + Sync + 'static,
    server_now: i64,
) -> impl IntoView {
    let data = entry.data;
    let id = entry.id.clone();
    let error = RwSignal::new(None::<String>);
    let detail_href = format!("/leads/{id}");
    view! {
        <tr data-lead-id=id.clone() class:is-editing={
            let id = id.clone();
            move || editing.get().as_deref() == Some(id.as_str())
        }>
            <td class="col-name">
                <cells::NameCell id=id.clone() data editing error finish_edit/>
            </td>
            <td class="col-phone">
                <input type="checkbox" class="merge-pick" name="lead" value=id.clone() form="merge-form"
                    aria-label=move || format!("{}: {}", t().merge_select_label, data.read().display_name)/>
                {move || {
                    let row = data.read();
                    if row.no_number {
                        Either::Left(view! { <a href=detail_href.clone() class="badge no-number">{t().no_number_badge}</a> })
                    } else {
                        Either::Right(view! { <a href=detail_href.clone() class="phone">{row.phone.clone()}</a> })
                    }
                }}
                {move || data.read().username.clone().map(|u| view! { <small class="username">{u}</small> })}
            </td>
            <td class="col-status"><cells::StatusCell id=id.clone() data error/></td>
            <td class="col-source">{move || source_label(data.read().source)}</td>
            // Phones show the label before the time (style/main.css).
            <td class="col-activity" data-label=t().col_last_activity>
                {move || {
                    let row = data.read();
                    match (row.last_activity_ms, row.last_activity_local.clone(), row.last_activity_iso.clone()) {
                        (Some(ms), local, iso) => Either::Left(view! {
                            <time datetime=iso.unwrap_or_default() title=local.unwrap_or_default()>
                                {move || relative_time(ms, live::now_or(server_now))}
                            </time>
                        }),
                        _ => Either::Right(view! { <span class="muted">{t().never_active}</span> }),
                    }
                }}
                {move || data.read().waiting_since_ms.map(|since| view! {
                    <span class="waiting" data-testid="waiting">
                        {move || format!("{} {}", super::i18n::tr().waiting, super::i18n::waited(since, live::now_or(server_now)))}
                    </span>
                })}
            </td>
            <td class="col-created">
                {move || {
                    let row = data.read();
                    let created = row.created_ms;
                    view! { <time datetime=row.created_iso.clone() title=row.created_local.clone()>{move || relative_time(created, live::now_or(server_now))}</time> }
                }}
            </td>
            <td class="col-actions">
                {move || {
                    let row = data.read();
                    let unread = row.unread;
                    match row.inbox_path.clone() {
                        Some(path) => Either::Left(view! {
                            <a class="button small" href=path>{t().open_in_inbox}</a>
                            {(unread > 0).then(|| view! {
                                <span class="badge">{unread}<span class="visually-hidden">{format!(" {}", t().unread_label)}</span></span>
                            })}
                        }),
                        None => Either::Right(view! {
                            <span class="button small disabled" title=t().no_conversation_yet>
                                <span aria-hidden="true">{t().open_in_inbox}</span>
                                <span class="visually-hidden">{t().no_conversation_yet}</span>
                            </span>
                        }),
                    }
                }}
            </td>
        </tr>
    }
}
