//! Live updates: after a delivery commits, the leads it touched are announced to every
//! open page of their workspace (over Server-Sent Events, see `crate::app`).

use crate::server::webhook::ingest::{DeliveryReport, Outcome};
use serde::Serialize;
use tokio::sync::broadcast;

/// One lead changed in a way an open Database or Inbox page should show.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LeadChanged {
    pub workspace_id: String,
    pub lead_id: String,
    /// The lead did not exist before this change.
    pub created: bool,
}

#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<LeadChanged>,
}

impl Default for LiveHub {
    fn default() -> Self {
        // Slow subscribers that fall this far behind skip ahead and refetch.
        Self { sender: broadcast::channel(1024).0 }
    }
}

impl LiveHub {
    pub fn subscribe(&self) -> broadcast::Receiver<LeadChanged> {
        self.sender.subscribe()
    }

    pub fn publish(&self, change: LeadChanged) {
        // No subscriber is not an error: nobody has a page open.
        let _ = self.sender.send(change);
    }

    /// Announces every lead a committed delivery created or changed.
    pub fn publish_delivery(&self, report: &DeliveryReport) {
        for item in &report.results {
            if !matches!(item.outcome, Outcome::Created | Outcome::Updated) {
                continue;
            }
            if let (Some(workspace_id), Some(lead_id)) = (&item.workspace_id, &item.lead_id) {
                self.publish(LeadChanged {
                    workspace_id: workspace_id.to_string(),
                    lead_id: lead_id.clone(),
                    created: item.lead_created,
                });
            }
        }
    }
}
