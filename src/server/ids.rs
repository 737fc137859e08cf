//! One id type per table, so a lead id cannot be passed where a workspace id belongs.
//! Ids are UUIDv7 text: made by the application (portable across both engines),
//! time-ordered (index-friendly), and not guessable from one another.

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

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
    )*};
}

id_type! {
    /// `workspaces.id`
    WorkspaceId;
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
}
