//! What the Database table does with live updates, as plain state: which rows it shows
//! and in which order, the count, and the "new leads waiting" notice. `LeadsTable` keeps
//! only the signals and the fetching; the rules live here, where host tests reach them:
//!
//! - The activity feed (newest activity first, no search or filter) puts a lead with new
//!   activity on top, and a lead it does not show yet too. Newest-created first (no
//!   search or filter) puts a created lead on top. Other views keep their order.
//! - A lead whose name is being edited never moves under the cursor: it moves up when
//!   the edit finishes.
//! - A lead that no longer matches the view's search or filter leaves, unless it is
//!   being edited; the count follows (never below 0).
//! - A created lead this view does not show is counted as waiting elsewhere.
//! - A resync (the stream missed changes) refreshes the first page's rows in place and
//!   the count; the feed also puts the leads it did not show on top.
//! - "Load more" appends only the leads not shown yet.

use crate::app::api::{LeadRow, LeadsQuery, SortKey};
use crate::model::LeadEvent;

/// One row as the table holds it. The page holds a `LeadRow` behind its own signal (so
/// cells change in place); tests hold the `LeadRow` itself.
pub(super) trait TableRow {
    fn new(row: LeadRow) -> Self;
    fn id(&self) -> &str;
    fn last_activity_ms(&self) -> Option<i64>;
    /// Shows `row`'s newer content.
    fn set(&mut self, row: LeadRow);
}

pub(super) struct LiveTable<R> {
    rows: Vec<R>,
    total: i64,
    /// Created leads this view does not show (the "new leads waiting" notice).
    arrived_elsewhere: usize,
    /// A lead that got new activity while its name was being edited moves up after the edit.
    move_after_edit: Option<String>,
    /// The activity feed: new activity puts a lead on top.
    feed: bool,
    /// Newest-created first without search or filter: a created lead goes on top.
    newest_first: bool,
}

impl<R: TableRow> LiveTable<R> {
    /// The table of the first page of `query`'s view.
    pub fn new(rows: Vec<LeadRow>, total: i64, query: &LeadsQuery) -> Self {
        LiveTable {
            rows: rows.into_iter().map(R::new).collect(),
            total,
            arrived_elsewhere: 0,
            move_after_edit: None,
            feed: query.is_activity_feed(),
            newest_first: query.sort_column() == SortKey::Created
                && query.descending()
                && query.q.is_empty()
                && query.status.is_empty(),
        }
    }

    pub fn rows(&self) -> &[R] {
        &self.rows
    }

    pub fn total(&self) -> i64 {
        self.total
    }

    pub fn arrived_elsewhere(&self) -> usize {
        self.arrived_elsewhere
    }

    /// A lead changed (`event`); `found` is how this view shows it now (`None`: it no
    /// longer matches), `editing` the lead whose name is being edited.
    pub fn apply(&mut self, event: &LeadEvent, found: Option<LeadRow>, editing: Option<&str>) {
        let id = event.lead_id.as_str();
        let existing = self.rows.iter_mut().find(|r| r.id() == id);
        match (found, existing) {
            (Some(row), Some(shown)) => {
                let became_active = shown.last_activity_ms() != row.last_activity_ms;
                shown.set(row);
                if self.feed && became_active {
                    self.move_to_top(id, editing);
                }
            }
            (Some(row), None) => {
                if event.created {
                    self.total += 1;
                }
                if self.feed || (self.newest_first && event.created) {
                    self.rows.insert(0, R::new(row));
                } else if event.created {
                    self.arrived_elsewhere += 1;
                }
            }
            // No longer matches this search or filter (e.g. its status changed).
            (None, Some(_)) if editing != Some(id) => {
                self.rows.retain(|r| r.id() != id);
                self.total = (self.total - 1).max(0);
            }
            _ => {}
        }
    }

    /// The name edit ended: the lead that got new activity meanwhile moves up now.
    pub fn finish_edit(&mut self) {
        if let Some(id) = self.move_after_edit.take() {
            if self.feed {
                self.move_to_top(&id, None);
            }
        }
    }

    /// A fresh first page of the view (and its total) after missed changes.
    pub fn resync(&mut self, first_page: Vec<LeadRow>, total: i64) {
        self.total = total;
        for row in first_page.into_iter().rev() {
            match self.rows.iter_mut().find(|r| r.id() == row.id) {
                Some(shown) => shown.set(row),
                None if self.feed => self.rows.insert(0, R::new(row)),
                None => {}
            }
        }
    }

    /// The next page ("Load more"), without the leads already shown.
    pub fn append(&mut self, page: Vec<LeadRow>) {
        for row in page {
            if !self.rows.iter().any(|r| r.id() == row.id) {
                self.rows.push(R::new(row));
            }
        }
    }

    fn move_to_top(&mut self, id: &str, editing: Option<&str>) {
        if editing == Some(id) {
            self.move_after_edit = Some(id.to_string());
            return;
        }
        if let Some(index) = self.rows.iter().position(|r| r.id() == id) {
            if index > 0 {
                let row = self.rows.remove(index);
                self.rows.insert(0, row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LeadSource, LeadStatus};

    impl TableRow for LeadRow {
        fn new(row: LeadRow) -> Self {
            row
        }
        fn id(&self) -> &str {
            &self.id
        }
        fn last_activity_ms(&self) -> Option<i64> {
            self.last_activity_ms
        }
        fn set(&mut self, row: LeadRow) {
            *self = row;
        }
    }

    fn lead(id: &str, activity_ms: i64) -> LeadRow {
        LeadRow {
            id: id.to_string(),
            display_name: id.to_string(),
            manual_name: None,
            profile_name: None,
            phone: String::new(),
            username: None,
            no_number: false,
            status: LeadStatus::New,
            source: LeadSource::Whatsapp,
            last_activity_ms: Some(activity_ms),
            last_activity_local: None,
            last_activity_iso: None,
            created_ms: 0,
            created_local: String::new(),
            created_iso: String::new(),
            inbox_path: None,
            unread: 0,
            waiting_since_ms: None,
            window_closes_ms: None,
        }
    }

    fn changed(id: &str) -> LeadEvent {
        LeadEvent { lead_id: id.to_string(), created: false }
    }

    fn created(id: &str) -> LeadEvent {
        LeadEvent { lead_id: id.to_string(), created: true }
    }

    fn view(sort: &str) -> LeadsQuery {
        LeadsQuery { sort: sort.to_string(), ..LeadsQuery::default() }
    }

    /// a, b, c (activity 3, 2, 1) in `query`'s view, of `total` leads.
    fn table(query: &LeadsQuery, total: i64) -> LiveTable<LeadRow> {
        LiveTable::new(vec![lead("a", 3), lead("b", 2), lead("c", 1)], total, query)
    }

    fn ids(table: &LiveTable<LeadRow>) -> Vec<&str> {
        table.rows().iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn the_feed_puts_a_new_lead_on_top_and_counts_it() {
        let mut t = table(&LeadsQuery::default(), 3);
        t.apply(&created("n"), Some(lead("n", 4)), None);
        assert_eq!(ids(&t), ["n", "a", "b", "c"]);
        assert_eq!(t.total(), 4);
        assert_eq!(t.arrived_elsewhere(), 0);
    }

    #[test]
    fn the_feed_puts_an_old_lead_it_did_not_show_on_top_without_counting_it() {
        // E.g. a lead beyond the first page got a message.
        let mut t = table(&LeadsQuery::default(), 10);
        t.apply(&changed("z"), Some(lead("z", 4)), None);
        assert_eq!(ids(&t), ["z", "a", "b", "c"]);
        assert_eq!(t.total(), 10);
    }

    #[test]
    fn newest_created_first_puts_a_created_lead_on_top() {
        let mut t = table(&view("created"), 3);
        t.apply(&created("n"), Some(lead("n", 4)), None);
        assert_eq!(ids(&t), ["n", "a", "b", "c"]);
        assert_eq!(t.total(), 4);
        assert_eq!(t.arrived_elsewhere(), 0);
        // An older lead it does not show stays out (it belongs further down).
        t.apply(&changed("z"), Some(lead("z", 5)), None);
        assert_eq!(ids(&t), ["n", "a", "b", "c"]);
        assert_eq!(t.total(), 4);
        assert_eq!(t.arrived_elsewhere(), 0);
    }

    #[test]
    fn new_activity_moves_a_lead_up_in_the_feed_and_updates_it_in_place() {
        let mut t = table(&LeadsQuery::default(), 3);
        t.apply(&changed("c"), Some(lead("c", 9)), None);
        assert_eq!(ids(&t), ["c", "a", "b"]);
        assert_eq!(t.rows()[0].last_activity_ms, Some(9));
        // Another change without new activity (e.g. a status) updates in place.
        let mut renamed = lead("b", 2);
        renamed.display_name = "Dewi".into();
        t.apply(&changed("b"), Some(renamed), None);
        assert_eq!(ids(&t), ["c", "a", "b"]);
        assert_eq!(t.rows()[2].display_name, "Dewi");
        assert_eq!(t.total(), 3);
    }

    #[test]
    fn other_sorts_update_in_place_without_moving() {
        for sort in ["name", "created"] {
            let mut t = table(&view(sort), 3);
            t.apply(&changed("c"), Some(lead("c", 9)), None);
            assert_eq!(ids(&t), ["a", "b", "c"], "sort={sort}");
            assert_eq!(t.rows()[2].last_activity_ms, Some(9), "sort={sort}");
        }
    }

    #[test]
    fn a_lead_being_edited_moves_up_only_after_the_edit() {
        let mut t = table(&LeadsQuery::default(), 3);
        t.apply(&changed("c"), Some(lead("c", 9)), Some("c"));
        assert_eq!(ids(&t), ["a", "b", "c"]);
        assert_eq!(t.rows()[2].last_activity_ms, Some(9), "its cells still update");
        // Another lead's activity moves that one, not the edited one.
        t.apply(&changed("b"), Some(lead("b", 10)), Some("c"));
        assert_eq!(ids(&t), ["b", "a", "c"]);
        t.finish_edit();
        assert_eq!(ids(&t), ["c", "b", "a"]);
        // Once only.
        t.apply(&changed("a"), Some(lead("a", 11)), None);
        t.finish_edit();
        assert_eq!(ids(&t), ["a", "c", "b"]);
    }

    #[test]
    fn finishing_an_edit_without_new_activity_moves_nothing() {
        let mut t = table(&LeadsQuery::default(), 3);
        t.apply(&changed("c"), Some(lead("c", 1)), Some("c"));
        t.finish_edit();
        assert_eq!(ids(&t), ["a", "b", "c"]);
        let mut t = table(&view("name"), 3);
        t.apply(&changed("c"), Some(lead("c", 9)), Some("c"));
        t.finish_edit();
        assert_eq!(ids(&t), ["a", "b", "c"]);
    }

    #[test]
    fn a_lead_that_no_longer_matches_leaves_unless_being_edited() {
        let filtered = LeadsQuery { status: "hot".into(), ..LeadsQuery::default() };
        let mut t = table(&filtered, 3);
        t.apply(&changed("b"), None, Some("b"));
        assert_eq!(ids(&t), ["a", "b", "c"]);
        assert_eq!(t.total(), 3);
        t.apply(&changed("b"), None, Some("a"));
        assert_eq!(ids(&t), ["a", "c"]);
        assert_eq!(t.total(), 2);
        // A lead it does not show that does not match changes nothing.
        t.apply(&changed("z"), None, None);
        assert_eq!(ids(&t), ["a", "c"]);
        assert_eq!(t.total(), 2);
    }

    #[test]
    fn the_count_never_goes_below_zero() {
        let mut t = table(&LeadsQuery::default(), 0);
        t.apply(&changed("a"), None, None);
        assert_eq!(ids(&t), ["b", "c"]);
        assert_eq!(t.total(), 0);
    }

    #[test]
    fn a_created_lead_another_view_shows_is_counted_as_waiting() {
        let oldest_activity = LeadsQuery { order: "asc".into(), ..view("last_activity") };
        let oldest_created = LeadsQuery { order: "asc".into(), ..view("created") };
        let searched = LeadsQuery { q: "dewi".into(), ..LeadsQuery::default() };
        let filtered_newest = LeadsQuery { status: "hot".into(), ..view("created") };
        let needs_reply = LeadsQuery { needs_reply: "1".into(), ..LeadsQuery::default() };
        for query in [view("name"), oldest_activity, oldest_created, searched, filtered_newest, needs_reply] {
            let mut t = table(&query, 3);
            t.apply(&created("n"), Some(lead("n", 4)), None);
            assert_eq!(ids(&t), ["a", "b", "c"], "{query:?}");
            assert_eq!(t.total(), 4, "{query:?}");
            assert_eq!(t.arrived_elsewhere(), 1, "{query:?}");
            // A lead that only changed is not new.
            t.apply(&changed("z"), Some(lead("z", 5)), None);
            assert_eq!((t.total(), t.arrived_elsewhere()), (4, 1), "{query:?}");
        }
    }

    #[test]
    fn a_resync_refreshes_shown_rows_and_the_count() {
        let mut t = table(&LeadsQuery::default(), 3);
        t.resync(vec![lead("x", 9), lead("c", 8), lead("y", 7), lead("a", 3)], 6);
        assert_eq!(ids(&t), ["x", "y", "a", "b", "c"], "unseen leads on top in the page's order");
        assert_eq!(t.rows()[4].last_activity_ms, Some(8), "shown rows updated in place");
        assert_eq!(t.total(), 6);

        let mut t = table(&view("name"), 3);
        t.resync(vec![lead("x", 9), lead("c", 8)], 5);
        assert_eq!(ids(&t), ["a", "b", "c"]);
        assert_eq!(t.rows()[2].last_activity_ms, Some(8));
        assert_eq!(t.total(), 5);
    }

    #[test]
    fn load_more_appends_only_leads_not_shown() {
        let mut t = table(&LeadsQuery::default(), 6);
        // "a" moved down meanwhile and comes again on the next page; "d" twice.
        t.append(vec![lead("d", 0), lead("a", 0), lead("e", 0), lead("d", 0)]);
        assert_eq!(ids(&t), ["a", "b", "c", "d", "e"]);
        assert_eq!(t.rows()[0].last_activity_ms, Some(3), "a shown row is left as it is");
        assert_eq!(t.total(), 6);
    }
}
