//! Settings → Webhook health (owners): WhatsApp's error notices (rate limits, failed
//! sends, unsupported messages) and the deliveries leadline refused, each with its
//! count and when it was last seen, so a business learns about a failing number or a
//! wrong secret before its customers do.

use super::api::{webhook_health, HealthLine, UiError};
use super::i18n::{relative_time, t, td};
use super::live;
use super::ErrorNotice;
use leptos::prelude::*;

/// Owners only: for anyone else the server function refuses and nothing is shown.
#[component]
pub fn WebhookHealth() -> impl IntoView {
    let health = Resource::new(|| (), |_| webhook_health());
    view! {
        <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                let body = match health.await {
                    Err(UiError::Forbidden(_)) => return None,
                    Ok(view) if view.lines.is_empty() => view! { <p class="muted">{td().webhook_healthy}</p> }.into_any(),
                    Ok(view) => view! { <HealthTable lines=view.lines now=view.now_ms/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                };
                let strings = td();
                Some(view! {
                    <section class="card" aria-labelledby="health-title" data-testid="webhook-health">
                        <h2 id="health-title">{strings.webhook_health}</h2>
                        <p class="hint">{strings.webhook_health_intro}</p>
                        {body}
                    </section>
                })
            })}
        </Transition>
    }
}

#[component]
fn HealthTable(lines: Vec<HealthLine>, now: i64) -> impl IntoView {
    let strings = td();
    view! {
        <div class="table-scroll">
            <table class="health">
                <thead>
                    <tr>
                        <th scope="col">{strings.health_kind}</th>
                        <th scope="col">{strings.health_reason}</th>
                        <th scope="col" class="num">{strings.health_count}</th>
                        <th scope="col">{strings.health_last_seen}</th>
                    </tr>
                </thead>
                <tbody>
                    {lines.into_iter().map(|line| {
                        let kind = if line.kind == "refused" { strings.kind_refused } else { strings.kind_error_notice };
                        let ms = line.last_seen_ms;
                        view! {
                            <tr class=format!("health-{}", line.kind)>
                                <td>{kind}</td>
                                <td><code>{line.code.clone()}</code>" "{(!line.code.contains(&line.title)).then(|| line.title.clone())}</td>
                                <td class="num">{line.count}</td>
                                <td><time datetime=line.last_seen_iso.clone() title=line.last_seen_local.clone()>
                                    {move || relative_time(ms, live::now_or(now))}
                                </time></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
