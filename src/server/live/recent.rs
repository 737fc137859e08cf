//! When each workspace last changed, so a page's first stream can start with a
//! `resync` when the page's data may be older than a change (see the hub's "No gap at
//! the start"). In memory, per process: on PostgreSQL every replica hears every change
//! through the relay, so any replica can answer for any workspace.

use std::collections::HashMap;

/// How far a page's `since` is moved back for clock differences between replicas and
/// for the time between reading a page's data and stamping it.
pub const SINCE_MARGIN_MS: i64 = 2_000;
/// How long the hub remembers when a workspace last changed; a page whose data is older
/// than that starts with a `resync`.
const REMEMBER_CHANGES_MS: i64 = 10 * 60 * 1_000;

/// When each workspace last changed, as far as this process heard (its own commits and,
/// on PostgreSQL, every replica's announcements), and before when it cannot tell.
#[derive(Default)]
pub(super) struct Recent {
    changed_at: HashMap<String, i64>,
    /// Changes before this moment may have happened unheard (start, forgetting, relay gap).
    pub(super) unknown_before: i64,
}

impl Recent {
    pub(super) fn starting_now() -> Recent {
        Recent { changed_at: HashMap::new(), unknown_before: now_ms() }
    }

    pub(super) fn heard(&mut self, workspace_id: &str, at: i64) {
        match self.changed_at.get_mut(workspace_id) {
            Some(known) => *known = (*known).max(at),
            None => {
                self.changed_at.insert(workspace_id.to_string(), at);
            }
        }
    }

    /// Whether a page of `workspace_id` whose data was read at `since` may have missed a change.
    pub(super) fn changed_since(&self, workspace_id: &str, since: i64) -> bool {
        let since = since.saturating_sub(SINCE_MARGIN_MS);
        since < self.unknown_before || self.changed_at.get(workspace_id).is_some_and(|at| *at >= since)
    }

    /// Forgets changes older than `REMEMBER_CHANGES_MS` (the map stays as small as the
    /// set of recently active workspaces).
    pub(super) fn forget_old(&mut self, now: i64) {
        let horizon = now - REMEMBER_CHANGES_MS;
        let mut newest_forgotten = None;
        self.changed_at.retain(|_, at| {
            let keep = *at >= horizon;
            if !keep {
                newest_forgotten = newest_forgotten.max(Some(*at));
            }
            keep
        });
        if let Some(at) = newest_forgotten {
            // Any workspace may have changed then, as far as we can tell now.
            self.unknown_before = self.unknown_before.max(at + 1);
        }
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_older_than_a_change_or_than_what_is_known_misses_something() {
        let mut recent = Recent { changed_at: HashMap::new(), unknown_before: 1_000_000 };
        assert!(recent.changed_since("w1", 1_000_000), "as old as the start: cannot tell");
        assert!(!recent.changed_since("w1", 1_000_000 + SINCE_MARGIN_MS + 1));
        recent.heard("w1", 2_000_000);
        assert!(recent.changed_since("w1", 2_000_000 - 1));
        assert!(recent.changed_since("w1", 2_000_000 + SINCE_MARGIN_MS), "clocks may differ by the margin");
        assert!(!recent.changed_since("w1", 2_000_000 + SINCE_MARGIN_MS + 1));
        assert!(!recent.changed_since("w2", 2_000_000), "another workspace's change");
        recent.heard("w1", 1_500_000);
        assert!(recent.changed_since("w1", 1_999_999), "the newest change is kept");

        recent.forget_old(2_000_000 + REMEMBER_CHANGES_MS + 1);
        assert!(recent.changed_at.is_empty());
        assert!(recent.changed_since("w2", 2_000_000 + SINCE_MARGIN_MS), "forgotten: cannot tell");
        assert!(!recent.changed_since("w2", 2_000_000 + SINCE_MARGIN_MS + 1));
    }
}
