//! A lead's page (`/leads/:id`): details, every identity it is reached on, the history
//! of manual changes and of merges. A merged lead's old link shows the lead it went into.

use super::super::api::{fetch_lead_detail, UiError};
use super::super::i18n::{relative_time, source_label, status_label, t};
use super::super::{ErrorNotice, NotFound};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// `/leads/:id`: one lead, its conversation link and the history of manual changes.
#[component]
pub fn LeadPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(move || params.read().get("id").unwrap_or_default(), fetch_lead_detail);
    view! {
        <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <LeadDetailView detail/> }.into_any(),
                    Err(UiError::NotFound(_)) => view! { <NotFound/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LeadDetailView(detail: super::super::api::LeadDetail) -> impl IntoView {
    let strings = t();
    let lead = detail.lead.clone();
    let server_now = detail.now_ms;
    view! {
        <Title text=lead.display_name.clone()/>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/leads">{strings.database_title}</a></nav>
        <div class="page-header">
            <h1>{lead.display_name.clone()}</h1>
            {lead.profile_aside().map(|p| view! { <small class="profile-name">{p}</small> })}
        </div>
        <dl class="facts">
            <dt>{strings.col_phone}</dt>
            <dd>{if lead.no_number {
                view! { <span class="badge no-number">{strings.no_number_badge}</span> }.into_any()
            } else {
                view! { <span>{lead.phone.clone()}</span> }.into_any()
            }}</dd>
            {lead.username.clone().map(|u| view! { <dt>{strings.username_label}</dt><dd class="username">{u}</dd> })}
            <dt>{strings.col_status}</dt><dd><span class=format!("pill status-{}", lead.status.as_str())>{status_label(lead.status)}</span></dd>
            <dt>{strings.source_label}</dt><dd>{source_label(lead.source)}</dd>
            <dt>{strings.col_last_activity}</dt>
            <dd>{match lead.last_activity_ms {
                Some(ms) => view! { <time title=lead.last_activity_local.clone().unwrap_or_default()>{relative_time(ms, server_now)}</time> }.into_any(),
                None => strings.never_active.into_any(),
            }}</dd>
            <dt>{strings.created_label}</dt><dd>{lead.created_local.clone()}</dd>
        </dl>
        <p>
            {match lead.inbox_path.clone() {
                Some(path) => view! { <a class="button" href=path>{strings.open_in_inbox}</a> }.into_any(),
                None => view! { <span class="button disabled" aria-disabled="true">{strings.open_in_inbox}</span> <span class="muted">{strings.no_conversation_yet}</span> }.into_any(),
            }}
        </p>
        <section class="identities" aria-labelledby="identities-title">
            <h2 id="identities-title">{strings.identities_title}</h2>
            <ul role="list">
                {detail.identities.into_iter().map(|identity| {
                    let kind = match identity.kind.as_str() {
                        "phone" => strings.identity_phone,
                        "parent_bsuid" => strings.identity_parent_bsuid,
                        _ => strings.identity_bsuid,
                    };
                    view! {
                        <li data-identity=identity.kind.clone()>
                            <span class="muted">{kind}": "</span><code>{identity.display}</code>
                            {identity.primary.then(|| view! { " "<span class="pill">{strings.identity_primary}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
        {(!detail.merges.is_empty()).then(|| view! {
            <section class="merges" aria-labelledby="merges-title">
                <h2 id="merges-title">{strings.merges_title}</h2>
                <ol class="changes" role="list">
                    {detail.merges.into_iter().map(|merge| {
                        let who = if merge.reason == "automatic" {
                            strings.merged_automatically.to_string()
                        } else {
                            format!("{} {}", strings.merged_by, merge.actor)
                        };
                        view! {
                            <li>
                                <strong>{merge.merged_name.unwrap_or_else(|| merge.merged_id.clone())}</strong>" "{who}
                                " · "<time>{merge.at_local}</time>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        })}
        <section class="history" aria-labelledby="history-title">
            <h2 id="history-title">{strings.history}</h2>
            {if detail.changes.is_empty() {
                view! { <p class="muted">{strings.no_history}</p> }.into_any()
            } else {
                view! {
                    <ol class="changes" role="list">
                        {detail.changes.into_iter().map(|change| {
                            let field = if change.field == "name" { strings.field_name } else { strings.field_status };
                            let shown = |v: Option<String>| v.filter(|v| !v.is_empty()).unwrap_or_else(|| strings.empty_value.to_string());
                            view! {
                                <li>
                                    <strong>{change.actor}</strong>" "{strings.changed}" "{field}" "{strings.from}" "
                                    <q>{shown(change.old_value)}</q>" "{strings.to}" "<q>{shown(change.new_value)}</q>
                                    " · "<time>{change.at_local}</time>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}
