//! Black-box integration tests: each spawns the real app on a random port against a
//! fresh database, and most run twice, on SQLite and on PostgreSQL.

#[macro_use]
mod support;

mod access;
mod api;
mod assets;
mod cli;
mod cluster;
mod corpus;
mod data;
mod delivery;
mod fake_kapso;
mod fuzz;
mod identity;
mod invitations;
mod lifecycle;
mod live;
mod pages;
mod process;
mod replies;
mod security;
mod storage;
mod webhook;
