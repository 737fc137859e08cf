//! The Inbox (`/inbox`, `/inbox/:conversation`): conversations newest first, and the
//! thread of the open one, both kept current by live updates. Opening a thread marks
//! it read. An unknown conversation is a 404 page.

use super::api::{list_conversations, open_thread, ConversationRow, MessageView, Thread, UiError};
use super::composer::{Composer, RetryButton};
use super::i18n::{relative_time, status_label, t, tr};
use super::live;
use super::{ErrorNotice, NotFound};
use leptos::{html, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn InboxPage() -> impl IntoView {
    let params = use_params_map();
    let url = use_query_map();
    let selected = Memo::new(move |_| params.read().get("conversation"));
    let search = Memo::new(move |_| url.read().get("q").unwrap_or_default());
    let list = Resource::new(move || search.get(), |q| list_conversations(q, String::new()));
    let thread = Resource::new(
        move || selected.get(),
        |conversation| async move {
            match conversation {
                Some(conversation) => open_thread(conversation).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let open_lead = RwSignal::new(None::<String>);
    let _live = live::subscribe(
        // The older of the two reads, once loaded (after hydration, both are).
        move || {
            let list_read_at = list.get_untracked().and_then(|page| page.ok()).map(|page| page.now_ms);
            let thread_read_at = thread.get_untracked().and_then(|thread| thread.ok()).flatten().map(|t| t.now_ms);
            list_read_at.into_iter().chain(thread_read_at).min()
        },
        move |event| {
            list.refetch();
            if open_lead.get_untracked().as_deref() == Some(event.lead_id.as_str()) {
                thread.refetch();
            }
        },
        move || {
            list.refetch();
            thread.refetch();
        },
    );
    let strings = t();
    view! {
        <Title text=strings.inbox_title/>
        <div class="inbox" class:has-thread=move || selected.get().is_some()>
            <aside class="conversation-pane" aria-label=strings.inbox_title>
                <div class="pane-header">
                    <h1>{strings.inbox_title}</h1>
                    <form role="search" method="get" action="/inbox" class="inbox-search">
                        <label for="inbox-search" class="visually-hidden">{strings.inbox_search_placeholder}</label>
                        <input id="inbox-search" type="search" name="q" placeholder=strings.inbox_search_placeholder
                            value=move || search.get()/>
                    </form>
                </div>
                <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(page) if page.rows.is_empty() => view! { <p class="muted pad">{t().no_conversations}</p> }.into_any(),
                            Ok(page) => view! { <ConversationList rows=page.rows now=page.now_ms selected/> }.into_any(),
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        }
                    })}
                </Transition>
            </aside>
            <section class="thread-pane">
                <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
                    {move || Suspend::new(async move {
                        match thread.await {
                            Ok(Some(loaded)) => {
                                open_lead.set(Some(loaded.conversation.lead_id.clone()));
                                let on_sent = Callback::new(move |_| thread.refetch());
                                view! { <ThreadView thread=loaded on_sent/> }.into_any()
                            }
                            Ok(None) => view! { <p class="muted pick">{t().pick_conversation}</p> }.into_any(),
                            Err(UiError::NotFound(_)) => view! { <NotFound message=t().conversation_not_found/> }.into_any(),
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn ConversationList(rows: Vec<ConversationRow>, now: i64, selected: Memo<Option<String>>) -> impl IntoView {
    view! {
        <ul class="conversations" role="list">
            {rows.into_iter().map(|row| {
                let href = format!("/inbox/{}", crate::url::encode(&row.inbox_ref));
                let reference = row.inbox_ref.clone();
                let is_open = move || selected.get().as_deref() == Some(reference.as_str());
                let is_open_badge = is_open.clone();
                let unread = row.unread;
                view! {
                    <li>
                        <a href=href class="conversation" class:active=is_open.clone()
                            aria-current=move || if is_open() { "page" } else { "false" }>
                            <span class="conversation-top">
                                <strong class="conversation-name">{row.display_name.clone()}</strong>
                                {row.last_message_ms.map(|ms| view! {
                                    <time datetime=row.last_message_iso.clone().unwrap_or_default() title=row.last_message_local.clone().unwrap_or_default()>
                                        {move || relative_time(ms, live::now_or(now))}
                                    </time>
                                })}
                            </span>
                            <span class="conversation-bottom">
                                <span class="preview">{row.preview.clone()}</span>
                                {move || (unread > 0 && !is_open_badge()).then(|| view! {
                                    <span class="badge">{unread}<span class="visually-hidden">{format!(" {}", t().unread_label)}</span></span>
                                })}
                            </span>
                        </a>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[component]
fn ThreadView(thread: Thread, on_sent: Callback<()>) -> impl IntoView {
    let strings = t();
    let list_ref = NodeRef::<html::Ol>::new();
    // Start at the latest message.
    Effect::new(move |_| {
        if let Some(list) = list_ref.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    let lead = thread.lead.clone();
    view! {
        <Title text=format!("{} · {}", lead.display_name, strings.inbox_title)/>
        <header class="thread-header">
            <a class="back" href="/inbox">{strings.back_to_list}</a>
            <div>
                <h2>{lead.display_name.clone()}</h2>
                <p class="muted">
                    {lead.phone.clone()}" · "
                    <span class=format!("pill status-{}", lead.status.as_str())>{status_label(lead.status)}</span>
                    {(thread.conversation.status != "active").then(|| view! { " · "{t().conversation_ended} })}
                </p>
            </div>
            <a class="button secondary small" href=format!("/leads/{}", lead.id)>{strings.back_to_lead}</a>
        </header>
        <ol class="messages" role="list" node_ref=list_ref>
            {thread.messages.into_iter().map(|message| {
                let back = thread.reply.inbox_ref.clone();
                view! { <MessageBubble message back/> }
            }).collect_view()}
        </ol>
        <Composer reply=thread.reply.clone() now=thread.now_ms on_sent/>
    }
}

#[component]
fn MessageBubble(message: MessageView, back: String) -> impl IntoView {
    let strings = t();
    let class = if message.inbound { "message inbound" } else { "message outbound" };
    let status = message.status.clone().map(|status| {
        let (symbol, label) = match status.as_str() {
            "read" => ("✓✓", strings.status_read),
            "delivered" => ("✓✓", strings.status_delivered),
            "sent" => ("✓", strings.status_sent),
            "failed" => ("!", strings.status_failed),
            "queued" => ("🕓", tr().status_queued),
            "unknown" => ("?", tr().status_unknown),
            _ => ("…", strings.status_pending),
        };
        view! {
            <span class=format!("delivery delivery-{status}") title=message.status_error.clone().unwrap_or_else(|| label.to_string())>
                <span aria-hidden="true">{symbol}</span>
                <span class="visually-hidden">{label}</span>
            </span>
        }
    });
    view! {
        <li class=class data-kind=message.kind.clone()>
            <span class="visually-hidden">{if message.inbound { strings.customer } else { strings.you }}": "</span>
            {message.quoted.map(|quoted| view! {
                <blockquote class="quoted">
                    <span class="visually-hidden">{strings.reply_to}": "</span>
                    <span class="quoted-who">{if quoted.from_customer { strings.customer } else { strings.you }}</span>
                    <span class="quoted-text">{quoted.text}</span>
                </blockquote>
            })}
            <p class="body">
                {message.label.map(|label| view! { <span class="media-label">{label}</span>" " })}
                {message.text}
            </p>
            {(!message.contacts.is_empty()).then(|| view! { <super::contact_cards::ContactCards message_id=message.id.clone() cards=message.contacts.clone()/> })}
            {message.media_url.map(|url| view! {
                <a class="media-link" href=url rel="noopener noreferrer" target="_blank">{strings.open_media}</a>
            })}
            <footer>
                <time datetime=message.at_iso.clone() title=message.at_local.clone()>{message.at_time.clone()}</time>
                {status}
            </footer>
            {(message.status.as_deref() == Some("unknown")).then(|| view! { <p class="delivery-note">{tr().status_unknown}</p> })}
            {(message.status.as_deref() == Some("failed")).then(|| message.status_error.clone()).flatten()
                .map(|why| view! { <p class="delivery-note">{why}</p> })}
            {message.can_retry.then(|| view! { <RetryButton message_id=message.id.clone() back=back.clone()/> })}
        </li>
    }
}
