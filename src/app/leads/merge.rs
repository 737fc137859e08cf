//! `/leads/merge?lead=…&lead=…`: the preview of merging two leads selected in the
//! Database, and the confirmation. What stays, what goes, the status pick when the two
//! differ, and a plain statement that a merge cannot be undone. A plain form: without
//! JavaScript it posts and the server redirects to the lead that stays.

use super::super::api::{preview_lead_merge, MergeLeads, MergePreviewView};
use super::super::i18n::{status_label, t};
use super::super::ErrorNotice;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn MergePage() -> impl IntoView {
    let url = use_query_map();
    let pair = Memo::new(move |_| {
        let map = url.read();
        let mut ids = map.get_all("lead").unwrap_or_default();
        ids.extend(map.get("a"));
        ids.extend(map.get("b"));
        ids.retain(|id| !id.trim().is_empty());
        ids.dedup();
        ids
    });
    let error = move || url.read().get("error");
    let preview = Resource::new(
        move || pair.get(),
        |ids| async move {
            match ids.as_slice() {
                [a, b] => Some(preview_lead_merge(a.clone(), b.clone()).await),
                _ => None,
            }
        },
    );
    view! {
        <Title text=t().merge_title/>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/leads">{t().database_title}</a></nav>
        <div class="page-header"><h1>{t().merge_title}</h1></div>
        {move || error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
        <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match preview.await {
                    None => view! { <p class="notice">{t().merge_pick_two}</p> }.into_any(),
                    Some(Ok(preview)) => view! { <MergeConfirm preview/> }.into_any(),
                    Some(Err(error)) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MergeConfirm(preview: MergePreviewView) -> impl IntoView {
    let strings = t();
    let action = ServerAction::<MergeLeads>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(survivor)) = action.value().get() {
            navigate(&format!("/leads/{survivor}"), Default::default());
        }
    });
    let statuses = preview.status_choices.clone();
    view! {
        <section class="card merge-preview" aria-labelledby="merge-result-title">
            <dl class="facts">
                <dt>{strings.merge_kept}</dt>
                <dd><a href=format!("/leads/{}", preview.survivor_id)>{preview.survivor_name.clone()}</a></dd>
                <dt>{strings.merge_goes}</dt>
                <dd><a href=format!("/leads/{}", preview.merged_id)>{preview.merged_name.clone()}</a></dd>
            </dl>
            <h2 id="merge-result-title">{strings.merge_result}</h2>
            <dl class="facts">
                <dt>{strings.col_name}</dt><dd data-testid="merge-name">{preview.display_name.clone()}</dd>
                <dt>{strings.identity_phone}</dt><dd>{preview.phones.join(", ")}</dd>
                {(!preview.user_ids.is_empty()).then(|| view! {
                    <dt>{strings.identity_bsuid}</dt><dd><code>{preview.user_ids.join(", ")}</code></dd>
                })}
                {preview.username.clone().map(|u| view! { <dt>{strings.username_label}</dt><dd>{u}</dd> })}
                {preview.lead_status.map(|s| view! { <dt>{strings.col_status}</dt><dd>{status_label(s)}</dd> })}
            </dl>
            <p class="muted" data-testid="merge-counts">{format!("{} / {}: {}", preview.messages, preview.conversations, strings.merge_counts)}</p>
            <ActionForm action attr:class="merge-form">
                <input type="hidden" name="lead_id" value=preview.survivor_id.clone()/>
                <input type="hidden" name="other_id" value=preview.merged_id.clone()/>
                {if statuses.is_empty() {
                    view! { <input type="hidden" name="lead_status" value=""/> }.into_any()
                } else {
                    view! {
                        <fieldset>
                            <legend>{strings.merge_pick_status}</legend>
                            {statuses.iter().enumerate().map(|(i, s)| {
                                let input_id = format!("merge-status-{}", s.as_str());
                                let label_for = input_id.clone();
                                view! {
                                    <label for=label_for class="choice">
                                        <input type="radio" id=input_id name="lead_status" value=s.as_str() required checked=i == 0/>
                                        {status_label(*s)}
                                    </label>
                                }
                            }).collect_view()}
                        </fieldset>
                    }.into_any()
                }}
                <p class="alert warning" role="note">{strings.merge_cannot_undo}</p>
                {move || match action.value().get() {
                    Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
                    _ => None,
                }}
                <div class="row">
                    <button type="submit" class="button primary" disabled=move || action.pending().get()>{strings.merge_confirm}</button>
                    <a class="button secondary" href="/leads">{strings.merge_cancel}</a>
                </div>
            </ActionForm>
        </section>
    }
}
