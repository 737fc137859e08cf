//! One id type per table, so a lead id cannot be passed where a workspace id belongs.
//! Ids are UUIDv7 text: made by the application (portable across both engines),
//! time-ordered (index-friendly), and not guessable from one another.
//!
//! Workspace ids are the exception: twelve lowercase hex digits (48 random bits). Every
//! row and nearly every index entry starts with its workspace id (every query is scoped
//! by it), about twenty of them per new customer's message, so its width is paid for
//! twenty times over on disk and in every B-tree comparison (issue 15: 24 bytes less per
//! entry). A workspace id is never a secret nor a capability: access goes through
//! memberships and tokens. Migration 0013 turned the UUIDs of existing workspaces into
//! their last twelve digits, and [`WorkspaceId::parse`] still reads an old UUID that way.

/// What every id type has: the struct, reading it back from the database, and its text.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read back from the database.
            pub fn from_db(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// An id type whose ids are UUIDv7 text.
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        text_id!($(#[$doc])* $name);

        impl $name {
            /// A fresh id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().hyphenated().to_string())
            }

            /// Reads an id from a URL or request body; anything that is not a UUID is
            /// no id at all (and so answers 404, like an id of another workspace).
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::try_parse(text.trim()).ok().map(|u| Self(u.hyphenated().to_string()))
            }
        }
    )*};
}

text_id! {
    /// `workspaces.id`: see the module's comment.
    WorkspaceId
}

/// Hex digits in a workspace id.
const WORKSPACE_ID_LEN: usize = 12;

impl WorkspaceId {
    /// A fresh id (48 random bits; `workspaces::create` retries the rare collision).
    pub fn generate() -> Self {
        let random = uuid::Uuid::new_v4();
        Self(random.simple().to_string()[32 - WORKSPACE_ID_LEN..].to_string())
    }

    /// Reads a workspace id from a form or a command line: twelve hex digits, or a
    /// workspace's UUID from before migration 0013, read as the id it became.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() == WORKSPACE_ID_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(Self(text.to_ascii_lowercase()));
        }
        let uuid = uuid::Uuid::try_parse(text).ok()?;
        Some(Self(uuid.simple().to_string()[32 - WORKSPACE_ID_LEN..].to_string()))
    }
}

id_type! {
    /// `leads.id`
    LeadId;
    /// `conversations.id`
    ConversationId;
    /// `messages.id`
    MessageId;
    /// `webhook_deliveries.id`
    DeliveryId;
    /// `users.id`
    UserId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_uuids() {
        let id = LeadId::generate();
        assert_eq!(LeadId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(LeadId::parse(&id.as_str().to_uppercase()), Some(id));
        assert_eq!(LeadId::parse("1"), None);
        assert_eq!(LeadId::parse("' OR 1=1 --"), None);
    }

    #[test]
    fn workspace_ids_are_twelve_hex_digits_and_old_uuids_read_as_what_they_became() {
        let id = WorkspaceId::generate();
        assert_eq!(id.as_str().len(), 12);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(WorkspaceId::generate(), id);
        assert_eq!(WorkspaceId::parse(&format!(" {} ", id.as_str().to_uppercase())), Some(id));
        // What migration 0013 does to a stored UUID: SUBSTR(id, 25, 12).
        let old = "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6";
        assert_eq!(WorkspaceId::parse(old).map(WorkspaceId::into_string), Some(old[24..].to_string()));
        assert_eq!(WorkspaceId::parse("b1c2d3e4f5a"), None);
        assert_eq!(WorkspaceId::parse("b1c2d3e4f5ag"), None);
        assert_eq!(WorkspaceId::parse("' OR 1=1 --"), None);
    }
}
