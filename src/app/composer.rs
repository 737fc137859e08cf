//! The reply composer under a thread: free text while WhatsApp's 24-hour window is open
//! (Enter sends, Shift+Enter starts a new line), approved templates once it has closed,
//! and why nothing can be sent when replies are not set up. Plain forms: without
//! JavaScript they post and land back on the thread (`?reply_error=…` when refused).

use super::api::{ReplyView, RetryReply, SendReply, SendTemplate, TemplateView};
use super::i18n::{tr, window_countdown};
use super::live;
use leptos::{html, prelude::*};
use leptos_router::hooks::use_query_map;

/// What a refusal after a plain form post means (`?reply_error=`).
fn reply_problem(code: &str) -> Option<&'static str> {
    Some(match code {
        "window_closed" => tr().window_closed,
        "empty" => "The reply is empty.",
        "too_long" => "A WhatsApp message holds at most 4,096 characters.",
        "no_recipient" => "This lead has no WhatsApp number or user id to send to.",
        "not_failed" => "Only a failed reply can be sent again.",
        "failed" => "The reply could not be queued. Try again.",
        _ => return None,
    })
}

#[component]
pub fn Composer(reply: ReplyView, now: i64, on_sent: Callback<()>) -> impl IntoView {
    let strings = tr();
    let is_owner = reply.is_owner;
    let url = use_query_map();
    let problem = move || url.read().get("reply_error").and_then(|code| reply_problem(&code));
    let back = reply.inbox_ref.clone();
    let closes = reply.window_closes_ms;
    let countdown = move || closes.map(|at| window_countdown(at, live::now_or(now)));
    let body = if !reply.can_send {
        let hint = if is_owner { strings.not_set_up_owner } else { strings.not_set_up };
        view! {
            <p class="composer-note">{hint}" "{is_owner.then(|| view! { <a href="/settings#kapso">"Settings"</a> })}</p>
        }
        .into_any()
    } else if reply.window_open {
        view! { <TextComposer reply=reply.clone() back=back.clone() on_sent/> }.into_any()
    } else {
        let why = if reply.window_closes_ms.is_some() { strings.window_closed } else { strings.window_never };
        view! {
            <p class="composer-note">{why}</p>
            {if reply.templates_configured {
                view! { <TemplateComposer reply=reply.clone() back=back.clone() on_sent/> }.into_any()
            } else {
                view! { <p class="composer-note muted">{strings.templates_not_set_up}</p> }.into_any()
            }}
        }
        .into_any()
    };
    view! {
        <section class="composer" aria-label=strings.composer_label>
            {reply.key_problem.clone().map(|problem| view! { <p class="alert" role="alert">{problem}</p> })}
            {move || problem().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            {reply.window_open.then(|| view! { <p class="window-countdown" data-testid="window">{countdown}</p> })}
            {body}
        </section>
    }
}

/// After each send the next reply needs a key of its own (a form sent twice still
/// queues once; two different replies are two).
fn next_key(base: &str, sent: u32) -> String {
    if sent == 0 {
        base.to_string()
    } else {
        format!("{base}.{sent}")
    }
}

#[component]
fn TextComposer(reply: ReplyView, back: String, on_sent: Callback<()>) -> impl IntoView {
    let strings = tr();
    let send = ServerAction::<SendReply>::new();
    let form = NodeRef::<html::Form>::new();
    let text = NodeRef::<html::Textarea>::new();
    let sent = RwSignal::new(0u32);
    let base = reply.client_key.clone();
    Effect::new(move |_| {
        if let Some(Ok(_)) = send.value().get() {
            sent.update(|n| *n += 1);
            if let Some(area) = text.get_untracked() {
                area.set_value("");
            }
            on_sent.run(());
        }
    });
    let error = move || match send.value().get() {
        Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
        _ => None,
    };
    view! {
        {error}
        <ActionForm action=send node_ref=form attr:class="composer-form">
            <input type="hidden" name="lead_id" value=reply.lead_id.clone()/>
            <input type="hidden" name="back" value=back/>
            <input type="hidden" name="client_key" value=move || next_key(&base, sent.get())/>
            <label for="reply-text" class="visually-hidden">{strings.reply_label}</label>
            <textarea id="reply-text" name="text" rows="2" maxlength="4096" required
                placeholder=strings.reply_placeholder aria-describedby="reply-hint" node_ref=text
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        if let Some(form) = form.get_untracked() {
                            let _ = form.request_submit();
                        }
                    }
                }
            ></textarea>
            <button type="submit" class="button primary" disabled=move || send.pending().get()>{strings.send}</button>
            <p id="reply-hint" class="hint visually-hidden">{strings.sending_hint}</p>
        </ActionForm>
    }
}

/// The templates came with the thread (no resource of its own: a suspense inside the
/// thread's resolved content would lose its hydration markers).
#[component]
fn TemplateComposer(reply: ReplyView, back: String, on_sent: Callback<()>) -> impl IntoView {
    match (reply.templates_error.clone(), reply.templates.is_empty()) {
        (Some(error), _) => view! { <p class="alert" role="alert">{error}</p> }.into_any(),
        (None, true) => view! { <p class="composer-note muted">{tr().no_templates}</p> }.into_any(),
        (None, false) => {
            let list = reply.templates.clone();
            view! { <TemplateForm list reply back on_sent/> }.into_any()
        }
    }
}

#[component]
fn TemplateForm(list: Vec<TemplateView>, reply: ReplyView, back: String, on_sent: Callback<()>) -> impl IntoView {
    let strings = tr();
    let send = ServerAction::<SendTemplate>::new();
    let chosen = RwSignal::new(0usize);
    let sent = RwSignal::new(0u32);
    let base = reply.client_key.clone();
    Effect::new(move |_| {
        if let Some(Ok(_)) = send.value().get() {
            sent.update(|n| *n += 1);
            on_sent.run(());
        }
    });
    // Without JavaScript the selection cannot change the form: every box the longest
    // template needs is shown (none `required`: the server names a missing value); the
    // server uses the first ones the chosen template takes. With JavaScript the boxes
    // the chosen template does not take are hidden.
    let most = list.iter().map(|t| t.params).max().unwrap_or(0);
    let list = StoredValue::new(list);
    let needed = move || list.with_value(|l| l.get(chosen.get()).map_or(most, |t| t.params));
    let preview = move || list.with_value(|l| l.get(chosen.get()).map(|t| t.body.clone()).unwrap_or_default());
    view! {
        {move || match send.value().get() {
            Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
            _ => None,
        }}
        <ActionForm action=send attr:class="template-form">
            <input type="hidden" name="lead_id" value=reply.lead_id.clone()/>
            <input type="hidden" name="back" value=back/>
            <input type="hidden" name="client_key" value=move || format!("t.{}", next_key(&base, sent.get()))/>
            <label for="template-choice">{strings.template_label}</label>
            <select id="template-choice" name="template"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    let at = list.with_value(|l| l.iter().position(|t| format!("{}|{}", t.name, t.language) == value));
                    chosen.set(at.unwrap_or(0));
                }>
                {list.with_value(|l| l.iter().map(|t| {
                    let value = format!("{}|{}", t.name, t.language);
                    view! { <option value=value>{format!("{} ({})", t.name, t.language)}</option> }
                }).collect_view())}
            </select>
            <p class="template-preview">{preview}</p>
            {(0..most).map(|i| view! {
                <div class=move || { if i >= needed() { "field hidden-field" } else { "field" } }>
                    <label for=format!("template-param-{i}")>{format!("{} {{{{{}}}}}", strings.template_value, i + 1)}</label>
                    <input id=format!("template-param-{i}") name=format!("params[{i}]") maxlength="1024"/>
                </div>
            }).collect_view()}
            <button type="submit" class="button primary" disabled=move || send.pending().get()>{strings.send_template}</button>
        </ActionForm>
    }
}

/// The Retry button of a failed or unknown reply.
#[component]
pub fn RetryButton(message_id: String, back: String) -> impl IntoView {
    let retry = ServerAction::<RetryReply>::new();
    view! {
        <ActionForm action=retry attr:class="retry-form">
            <input type="hidden" name="message_id" value=message_id/>
            <input type="hidden" name="back" value=back/>
            <button type="submit" class="button secondary small">{tr().retry}</button>
        </ActionForm>
        {move || match retry.value().get() {
            Some(Err(error)) => Some(view! { <span class="alert inline" role="alert">{error.to_string()}</span> }),
            _ => None,
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reply_gets_its_own_key() {
        assert_eq!(next_key("abc", 0), "abc");
        assert_eq!(next_key("abc", 2), "abc.2");
        assert_ne!(next_key("abc", 1), next_key("abc", 2));
    }

    #[test]
    fn refusals_after_a_plain_post_are_explained() {
        assert!(reply_problem("window_closed").is_some());
        assert_eq!(reply_problem("<script>"), None);
    }
}
