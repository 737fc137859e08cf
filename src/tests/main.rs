//! Black-box integration tests: each spawns the real app on a random port against a
//! fresh database, and most run twice, on SQLite and on PostgreSQL.

#[macro_use]
mod support;

mod access;
mod api;
mod cli;
mod data;
mod fuzz;
mod pages;
mod webhook;
