//! The Database row's editable cells: the name (edited in place, with a plain form for
//! browsers without JavaScript) and the status select. Each shows the change at once and
//! puts the row back, with a message, when the server refuses it.

use crate::app::api::{rename_lead, set_lead_status, LeadRow};
use crate::app::i18n::{status_label, t};
use crate::model::{clean_manual_name, LeadStatus, NAME_MAX_CHARS};
use leptos::{html, prelude::*, task::spawn_local};

/// The name: click (or Enter) to edit in place; Enter or leaving the field saves,
/// Escape cancels. Shown at once, put back with a message if the server refuses.
/// Without JavaScript, the "Edit" disclosure holds a plain form to the same server
/// function.
#[component]
pub(super) fn NameCell(
    id: String,
    data: RwSignal<LeadRow>,
    editing: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
    finish_edit: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let input_ref = NodeRef::<html::Input>::new();
    let name_ref = NodeRef::<html::Span>::new();
    let editing_this = {
        let id = id.clone();
        move || editing.get().as_deref() == Some(id.as_str())
    };
    let start = {
        let id = id.clone();
        move || {
            let row = data.get_untracked();
            draft.set(row.manual_name.or(row.profile_name).unwrap_or_default());
            error.set(None);
            editing.set(Some(id.clone()));
        }
    };
    Effect::new(move |_| {
        if let Some(input) = input_ref.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let finish = {
        let id = id.clone();
        move |save: bool| {
            if editing.get_untracked().as_deref() != Some(id.as_str()) {
                return; // already finished (Enter, then the field's blur)
            }
            finish_edit();
            if let Some(span) = name_ref.get_untracked() {
                let _ = span.focus();
            }
            if !save {
                return;
            }
            let previous = data.get_untracked();
            let typed = draft.get_untracked();
            let unchanged_profile =
                previous.manual_name.is_none() && Some(typed.trim()) == previous.profile_name.as_deref();
            let new_name = match clean_manual_name(&typed) {
                Ok(name) => name,
                Err(problem) => {
                    error.set(Some(format!("{}: {problem}", t().name_not_saved)));
                    return;
                }
            };
            if new_name == previous.manual_name || unchanged_profile {
                return;
            }
            data.update(|row| {
                row.manual_name = new_name.clone();
                row.display_name = new_name.clone().or(row.profile_name.clone()).unwrap_or(row.phone.clone());
            });
            let id = id.clone();
            spawn_local(async move {
                match rename_lead(id, new_name.unwrap_or_default()).await {
                    Ok(row) => data.set(row),
                    Err(refused) => {
                        data.set(previous);
                        error.set(Some(format!("{}: {refused}", t().name_not_saved)));
                    }
                }
            });
        }
    };
    let finish_on_key = finish.clone();
    let finish_on_blur = finish.clone();
    let start_on_key = start.clone();
    let display = move || {
        let row = data.read();
        (row.display_name.clone(), row.profile_aside())
    };
    view! {
        <div class="name-cell">
            <Show
                when=editing_this
                fallback=move || {
                    let start = start.clone();
                    let start_on_key = start_on_key.clone();
                    view! {
                        <span class="lead-name" tabindex="0" role="button" node_ref=name_ref
                            title=t().edit_name_hint
                            on:click=move |_| start()
                            on:keydown=move |ev| {
                                if ev.key() == "Enter" {
                                    ev.prevent_default();
                                    start_on_key();
                                }
                            }
                        >
                            {move || display().0}
                        </span>
                        {move || display().1.map(|profile| view! {
                            <small class="profile-name" title=t().profile_name_label>{profile}</small>
                        })}
                    }
                }
            >
                <input class="name-input" type="text" node_ref=input_ref aria-label=t().name_input_label
                    maxlength=NAME_MAX_CHARS.to_string() prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown={
                        let finish = finish_on_key.clone();
                        move |ev| match ev.key().as_str() {
                            "Enter" => {
                                ev.prevent_default();
                                finish(true);
                            }
                            "Escape" => {
                                ev.prevent_default();
                                finish(false);
                            }
                            _ => {}
                        }
                    }
                    on:blur={
                        let finish = finish_on_blur.clone();
                        move |_| finish(true)
                    }/>
            </Show>
            {move || error.get().map(|message| view! { <p class="cell-error" role="alert">{message}</p> })}
            <NoScriptEdit id=id.clone() data/>
        </div>
    }
}

/// The edit form for browsers without JavaScript: a plain POST to `edit_lead`, which
/// sends the browser back here. The server renders it inside `<noscript>`: a browser that
/// runs scripts reads that as inert text, so a page's fifty forms (half its elements,
/// each with a six-option select) cost a scripted page nothing to parse, style, lay out
/// or hydrate; without scripts it is ordinary HTML. (`scripts/bench-phone --profile`.)
#[component]
fn NoScriptEdit(id: String, data: RwSignal<LeadRow>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let form = {
        use leptos::tachys::view::RenderHtml;
        no_script_form(&id, &data.get_untracked()).to_html()
    };
    #[cfg(not(feature = "ssr"))]
    let form = {
        let _ = (id, data);
        String::new()
    };
    view! { <noscript inner_html=form></noscript> }
}

#[cfg(feature = "ssr")]
fn no_script_form(id: &str, row: &LeadRow) -> impl IntoView + use<> {
    use crate::app::api::EditLead;
    use leptos::server_fn::ServerFn;
    let strings = t();
    let field_id = format!("nojs-name-{id}");
    let status_id = format!("nojs-status-{id}");
    let status = row.status;
    view! {
        <details class="nojs-edit">
            <summary>{strings.edit}</summary>
            <form method="post" action=EditLead::url()>
                <input type="hidden" name="lead_id" value=id.to_string()/>
                <label for=field_id.clone()>{strings.name_input_label}</label>
                <input id=field_id type="text" name="name" value=row.manual_name.clone().unwrap_or_default() maxlength=NAME_MAX_CHARS.to_string()/>
                <label for=status_id.clone()>{strings.col_status}</label>
                <select id=status_id name="lead_status">
                    {LeadStatus::ALL
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str() selected=status == s>{status_label(s)}</option> })
                        .collect_view()}
                </select>
                <button type="submit" class="button small">{strings.save}</button>
            </form>
        </details>
    }
}

#[component]
pub(super) fn StatusCell(id: String, data: RwSignal<LeadRow>, error: RwSignal<Option<String>>) -> impl IntoView {
    let initial = data.get_untracked().status;
    // Without JavaScript the select could not save: it stays disabled until the page
    // is live (the "Edit" form serves instead).
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let label = move || format!("{} {}", t().col_status, data.read().display_name);
    view! {
        <select class=move || format!("status-select status-{}", data.read().status.as_str())
            aria-label=label
            disabled=move || !live.get()
            prop:value=move || data.read().status.as_str().to_string()
            on:change=move |ev| {
                let value = event_target_value(&ev);
                let Some(status) = LeadStatus::parse(&value) else { return };
                let previous = data.get_untracked();
                data.update(|row| row.status = status);
                error.set(None);
                let id = id.clone();
                spawn_local(async move {
                    match set_lead_status(id, value).await {
                        Ok(row) => data.set(row),
                        Err(refused) => {
                            data.set(previous);
                            error.set(Some(format!("{}: {refused}", t().status_not_saved)));
                        }
                    }
                });
            }
        >
            {LeadStatus::ALL
                .into_iter()
                .map(|s| view! { <option value=s.as_str() selected=initial == s>{status_label(s)}</option> })
                .collect_view()}
        </select>
    }
}
