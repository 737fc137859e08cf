//! The server half: everything that runs only inside the `leadline` binary.
//!
//! - `webhook/`: Kapso deliveries → leads (start at `webhook/ingest.rs`)
//! - `leads`, `messages`: the queries the pages and the JSON API share, and the API routes
//! - `workspaces`: businesses, their secrets, the webhook's workspace cache
//! - `db`: the pool, the engines, the embedded migrations
//! - `phone`: phone identity (E.164, typed numbers, search fragments)
//! - `http`: state, router assembly, serve; `cli`: the commands
//! - `assets`: the hashed, cached-forever bundle and response compression

pub mod accounts;
pub mod assets;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contact_cards;
pub mod conversations;
pub mod csv_export;
pub mod csv_import;
pub mod csv_import_progress;
pub mod csv_import_web;
pub mod cursor;
pub mod db;
pub mod delivery_web;
pub mod error;
pub mod http;
pub mod identity;
pub mod ids;
pub mod invitations;
pub mod leads;
pub mod live;
pub mod merge;
pub mod messages;
pub mod metrics;
pub mod passwords;
pub mod phone;
pub mod replies;
pub mod secrets;
pub mod security;
pub mod sign_in;
pub mod store;
pub mod team;
pub mod telemetry;
pub mod web;
pub mod web_merge;
pub mod webhook;
pub mod workspaces;

pub use http::{app, AppState};
