//! The `leadline` binary: `leadline serve` (the default) and the admin commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    leadline::server::cli::run().await
}
