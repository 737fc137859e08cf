//! CSV import pages: `/import` (choose a file) and `/import/:id` (map the columns with a
//! preview of the first rows → check (dry run) → import → result and rejected rows).
//! Every step is a plain form, so it works without JavaScript; the server side is
//! `server::csv_import_web`.

use super::api::import_view;
use super::ErrorNotice;
use crate::model::{ImportProgress, ImportStage};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// Which column (0-based) holds what; `None` = ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportMapping {
    pub phone: usize,
    pub name: Option<usize>,
    pub status: Option<usize>,
    pub fill_empty_names: bool,
    pub set_status: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    pub phone: String,
    pub reason: String,
}

/// A dry run's counts, or an import's result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub rows: usize,
    pub new: usize,
    pub matching: usize,
    pub updated: usize,
    pub duplicates: usize,
    pub invalid: usize,
    pub blank: usize,
    pub rejected_total: usize,
    /// The first rejected rows (all are in the downloadable report).
    pub rejected: Vec<RejectedRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportView {
    pub id: String,
    pub file_name: String,
    pub columns: Vec<String>,
    pub preview: Vec<Vec<String>>,
    pub delimiter: String,
    pub mapping: ImportMapping,
    pub summary: Option<ImportSummary>,
    pub imported: bool,
}

/// `/import`: the upload form (multipart, posted to the server directly).
#[component]
pub fn ImportUploadPage() -> impl IntoView {
    let url = use_query_map();
    let error = move || url.read().get("error").filter(|e| !e.is_empty());
    view! {
        <Title text="Import leads"/>
        <div class="page-header"><h1>"Import leads"</h1></div>
        {move || error().map(|message| {
            let message = if message == "empty" { "Choose a CSV file first.".to_string() } else { message };
            view! { <p class="alert" role="alert">{message}</p> }
        })}
        <section class="card">
            <form method="post" action="/import/upload" enctype="multipart/form-data" class="inline-form">
                <div class="field grow">
                    <label for="import-file">"CSV file (UTF-8; comma, semicolon or tab)"</label>
                    <input id="import-file" type="file" name="file" accept=".csv,.txt,.tsv,text/csv" required/>
                </div>
                <button type="submit" class="button primary">"Upload"</button>
            </form>
            <p class="muted">
                "One lead per row. A phone column is required (any spelling: 0812…, +62 812…, tel:…); "
                "name and status columns are optional. Nothing is imported until you confirm."
            </p>
        </section>
        <p class="page-back"><a href="/leads">"← Back to the Database"</a></p>
    }
}

/// `/import/:id`: mapping, preview, dry run, confirm, result.
#[component]
pub fn ImportPage() -> impl IntoView {
    let params = use_params_map();
    let url = use_query_map();
    let request = Memo::new(move |_| {
        let q = url.read();
        (
            params.read().get("id").unwrap_or_default(),
            q.get("phone").unwrap_or_default(),
            q.get("name").unwrap_or_default(),
            q.get("status").unwrap_or_default(),
            q.get("fill_empty_names").unwrap_or_default(),
            q.get("set_status").unwrap_or_default(),
            q.get("check").is_some(),
        )
    });
    let data = Resource::new(
        move || request.get(),
        |(id, phone, name, status, fill, set, check)| import_view(id, phone, name, status, fill, set, check),
    );
    let error = move || url.read().get("error").filter(|e| !e.is_empty());
    view! {
        <Title text="Import leads"/>
        <div class="page-header"><h1>"Import leads"</h1></div>
        {move || error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => view! { <ImportBody view/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ImportBody(view: ImportView) -> impl IntoView {
    let report_href = format!("/import/{}/rejected.csv", view.id);
    if view.imported {
        let summary = view.summary.clone().unwrap_or_default();
        return view! {
            <section class="card" data-testid="import-result">
                <h2>{format!("Imported {}", view.file_name)}</h2>
                <SummaryFacts summary=summary.clone() done=true/>
                <RejectedList summary report_href/>
                <p><a class="button" href="/leads">"Open the Database"</a></p>
            </section>
        }
        .into_any();
    }
    let mapping = view.mapping.clone();
    let columns = view.columns.clone();
    let column_options = move |selected: Option<usize>, optional: bool| {
        let columns = columns.clone();
        view! {
            {optional.then(|| view! { <option value="" selected=selected.is_none()>"— ignore —"</option> })}
            {columns
                .into_iter()
                .enumerate()
                .map(|(i, name)| view! { <option value=i.to_string() selected=selected == Some(i)>{name}</option> })
                .collect_view()}
        }
    };
    let hidden = mapping.clone();
    let confirm_action = format!("/import/{}/confirm", view.id);
    // With JavaScript, the import's progress while the confirming post runs.
    let (started, progress) = (RwSignal::new(false), RwSignal::new(None::<ImportProgress>));
    let watch = {
        let id = view.id.clone();
        move |ev: leptos::ev::SubmitEvent| submit_with_progress(ev, &id, started, progress)
    };
    view! {
        <section class="card">
            <h2>{format!("{} — map the columns", view.file_name)}</h2>
            <p class="muted">{format!("Read as {}-separated.", view.delimiter)}</p>
            <form method="get" class="inline-form" data-testid="mapping">
                <div class="field">
                    <label for="map-phone">"Phone (required)"</label>
                    <select id="map-phone" name="phone">{column_options(Some(mapping.phone), false)}</select>
                </div>
                <div class="field">
                    <label for="map-name">"Name"</label>
                    <select id="map-name" name="name">{column_options(mapping.name, true)}</select>
                </div>
                <div class="field">
                    <label for="map-status">"Status"</label>
                    <select id="map-status" name="status">{column_options(mapping.status, true)}</select>
                </div>
                <label class="check">
                    <input type="checkbox" name="fill_empty_names" value="1" checked=mapping.fill_empty_names/>
                    " Fill the name of existing leads that have none"
                </label>
                <label class="check">
                    <input type="checkbox" name="set_status" value="1" checked=mapping.set_status/>
                    " Set the status of existing leads"
                </label>
                <input type="hidden" name="check" value="1"/>
                <button type="submit" class="button">"Check the file"</button>
            </form>
            <h3>"First rows"</h3>
            <div class="table-wrap">
                <table class="preview" data-testid="preview">
                    <thead><tr>{view.columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {view.preview.iter().map(|row| view! {
                            <tr>{row.iter().map(|cell| view! { <td>{cell.clone()}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        {view.summary.clone().map(|summary| view! {
            <section class="card" data-testid="dry-run">
                <h2>"Dry run: nothing is imported yet"</h2>
                <SummaryFacts summary=summary.clone() done=false/>
                <RejectedList summary=summary.clone() report_href=report_href.clone()/>
                <form method="post" action=confirm_action.clone() on:submit=watch.clone()>
                    <input type="hidden" name="phone" value=hidden.phone.to_string()/>
                    <input type="hidden" name="name" value=hidden.name.map(|n| n.to_string()).unwrap_or_default()/>
                    <input type="hidden" name="status" value=hidden.status.map(|n| n.to_string()).unwrap_or_default()/>
                    <input type="hidden" name="fill_empty_names" value=if hidden.fill_empty_names { "1" } else { "" }/>
                    <input type="hidden" name="set_status" value=if hidden.set_status { "1" } else { "" }/>
                    <button type="submit" class="button primary" disabled={
                        let nothing = summary.new + summary.updated == 0;
                        move || nothing || started.get()
                    }>
                        {format!("Import {} new lead(s)", summary.new)}
                    </button>
                </form>
                <Show when=move || started.get()>
                    <div class="import-progress" role="status" aria-live="polite" data-testid="import-progress">
                        <progress max=move || progress.get().map_or(1, |p| p.total.max(1))
                            value=move || progress.get().map(|p| p.done)/>
                        <span>{move || progress_label(progress.get())}</span>
                    </div>
                </Show>
            </section>
        })}
    }
    .into_any()
}

#[component]
fn SummaryFacts(summary: ImportSummary, done: bool) -> impl IntoView {
    let verb = if done { "" } else { "would be " };
    view! {
        <dl class="facts" data-testid="summary">
            <dt>"Rows read"</dt><dd data-count="rows">{summary.rows}</dd>
            <dt>{format!("New leads {verb}created")}</dt><dd data-count="new">{summary.new}</dd>
            <dt>"Matching existing leads"</dt><dd data-count="matching">{summary.matching}</dd>
            <dt>{format!("Existing leads {verb}changed")}</dt><dd data-count="updated">{summary.updated}</dd>
            <dt>"Duplicates inside the file"</dt><dd data-count="duplicates">{summary.duplicates}</dd>
            <dt>"Invalid rows"</dt><dd data-count="invalid">{summary.invalid}</dd>
        </dl>
    }
}

#[component]
fn RejectedList(summary: ImportSummary, report_href: String) -> impl IntoView {
    (summary.rejected_total > 0).then(|| {
        view! {
            <h3>{format!("Rows not imported ({})", summary.rejected_total)}</h3>
            <p><a class="button secondary" href=report_href download="rejected-rows.csv">"Download the report (CSV)"</a></p>
            <div class="table-wrap">
                <table class="preview" data-testid="rejected">
                    <thead><tr><th scope="col">"Line"</th><th scope="col">"Phone"</th><th scope="col">"Reason"</th></tr></thead>
                    <tbody>
                        {summary.rejected.into_iter().map(|r| view! {
                            <tr><td>{r.line}</td><td>{r.phone}</td><td>{r.reason}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    })
}

/// What the progress bar says (`None`: the import has not started yet).
pub fn progress_label(progress: Option<ImportProgress>) -> String {
    let Some(p) = progress else { return "Starting the import…".into() };
    match p.stage {
        ImportStage::Matching => format!("Looking up {} numbers among your leads…", p.total),
        ImportStage::Creating => format!("Creating leads: {} of {}", p.done, p.total),
        ImportStage::Updating => format!("Updating existing leads: {} of {}", p.done, p.total),
        ImportStage::Saving => "Saving…".into(),
    }
}

/// With JavaScript, the confirming form is posted with `fetch` while the page follows
/// the import's progress, then goes where the post's answer redirected (the result, or
/// the mapping with an error). The page stays alive meanwhile (a native post would leave
/// it frozen on a loading tab). Anything unexpected falls back to the plain form post,
/// which is also what happens without JavaScript.
fn submit_with_progress(
    ev: leptos::ev::SubmitEvent,
    id: &str,
    started: RwSignal<bool>,
    progress: RwSignal<Option<ImportProgress>>,
) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        use leptos::web_sys::{FormData, HtmlFormElement, RequestInit, Response, UrlSearchParams};
        let Some(form) = ev.target().and_then(|t| t.dyn_into::<HtmlFormElement>().ok()) else { return };
        let Some(body) = FormData::new_with_form(&form)
            .ok()
            .and_then(|data| UrlSearchParams::new_with_str_sequence_sequence(&data).ok())
        else {
            return;
        };
        ev.prevent_default();
        started.set(true);
        watch_import(id, progress);
        let action = form.action();
        leptos::task::spawn_local(async move {
            let init = RequestInit::new();
            init.set_method("POST");
            init.set_body(&body);
            let window = leptos::prelude::window();
            let answer = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&action, &init))
                .await
                .ok()
                .and_then(|r| r.dyn_into::<Response>().ok());
            match answer {
                Some(response) if response.redirected() => {
                    let _ = window.location().set_href(&response.url());
                }
                _ => {
                    let _ = form.submit();
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, id, started, progress);
}

/// Follows `/import/{id}/progress` into `progress` until the import ends.
#[cfg(feature = "hydrate")]
fn watch_import(id: &str, progress: RwSignal<Option<ImportProgress>>) {
    {
        use leptos::wasm_bindgen::{closure::Closure, JsCast};
        use leptos::web_sys::{Event, EventSource, MessageEvent};
        let Ok(source) = EventSource::new(&format!("/import/{id}/progress")) else { return };
        let on_progress = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let text = event.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string());
            if let Some(now) = text.and_then(|t| serde_json::from_str::<ImportProgress>(&t).ok()) {
                progress.set(Some(now));
            }
        });
        let on_end = Closure::<dyn FnMut(Event)>::new({
            let source = source.clone();
            move |_| source.close()
        });
        let _ = source.add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
        for name in ["done", "failed"] {
            let _ = source.add_event_listener_with_callback(name, on_end.as_ref().unchecked_ref());
        }
        // They live as long as the page, which the post's answer is about to replace.
        on_progress.forget();
        on_end.forget();
    }
}

/// The Database page's import and export links. Export takes the view as it is (search,
/// status filter, sort): plain links, so they work without JavaScript.
#[component]
pub fn DataLinks(query: Memo<super::api::LeadsQuery>) -> impl IntoView {
    let export = move |bom: bool| {
        let view = super::api::LeadsQuery { cursor: String::new(), ..query.get() };
        let href = view.href(None).replacen("/leads", "/leads.csv", 1);
        match (bom, href.contains('?')) {
            (false, _) => href,
            (true, true) => format!("{href}&bom=1"),
            (true, false) => format!("{href}?bom=1"),
        }
    };
    view! {
        <div class="data-links">
            <a class="button secondary small" href="/import">"Import CSV"</a>
            <a class="button secondary small" href=move || export(false) download data-testid="export-csv">"Export CSV"</a>
            <a class="button secondary small" href=move || export(true) download title="CSV with a byte order mark, which Excel needs for non-English names">"Export for Excel"</a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_names_each_step() {
        assert_eq!(progress_label(None), "Starting the import…");
        let at = |stage, done, total| Some(ImportProgress { stage, done, total });
        assert_eq!(progress_label(at(ImportStage::Matching, 0, 1000)), "Looking up 1000 numbers among your leads…");
        assert_eq!(progress_label(at(ImportStage::Creating, 400, 1000)), "Creating leads: 400 of 1000");
        assert_eq!(progress_label(at(ImportStage::Updating, 3, 7)), "Updating existing leads: 3 of 7");
        assert_eq!(progress_label(at(ImportStage::Saving, 0, 1)), "Saving…");
    }
}
