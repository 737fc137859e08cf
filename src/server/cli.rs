//! The command line: `leadline serve` (the default) and the operator's commands. Every
//! command opens the database named by `DATABASE_URL` (SQLite file by default) and
//! applies pending migrations first. Results are printed as JSON on stdout; problems
//! on stderr with a non-zero exit code.

use crate::server::{
    accounts, config,
    db::{Db, DEFAULT_DATABASE_URL},
    error::AppError,
    http::{self, AppState},
    ids::DeliveryId,
    telemetry,
    webhook::{self, commit::Committer},
    workspaces::{self, NewWorkspace, Rotation, WEBHOOK_PATH},
};
use clap::{Parser, Subcommand};
use serde_json::json;
use sqlx::Row;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "leadline", version, about = "Self-hosted WhatsApp lead CRM fed by Kapso webhooks")]
struct Cli {
    /// sqlite://path/to/file.db or postgres://user:pass@host/db
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the web app, the JSON API and the webhook (address from LEPTOS_SITE_ADDR,
    /// default 127.0.0.1:3000).
    Serve,
    /// Create, list and manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Inspect and replay stored webhook deliveries.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Manage people who sign in.
    #[command(subcommand)]
    User(UserCommand),
    /// Copy a consistent snapshot of the running database to a new file (SQLite: VACUUM
    /// INTO; PostgreSQL: pg_dump --format=custom). Ingest keeps running meanwhile.
    Backup {
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
    /// Replace the database's contents with a backup made by `leadline backup`. Refuses a
    /// database that another process has open or that already holds workspaces, unless --force.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: std::path::PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Import leads from a CSV file.
    #[command(subcommand)]
    Leads(LeadsCommand),
}

#[derive(Subcommand, Debug)]
enum LeadsCommand {
    /// Import a CSV file (comma, semicolon or tab; UTF-8 with or without BOM). Prints the
    /// report as JSON: new, matching, duplicates and every rejected row with its line.
    Import {
        file: std::path::PathBuf,
        /// Workspace id or its phone_number_id.
        #[arg(long)]
        workspace: String,
        /// The phone column: its header or its number (1 = first); guessed when omitted.
        #[arg(long)]
        phone_column: Option<String>,
        /// The name column (header or number); guessed when omitted, `none` to ignore.
        #[arg(long)]
        name_column: Option<String>,
        /// The status column (header or number); guessed when omitted, `none` to ignore.
        #[arg(long)]
        status_column: Option<String>,
        /// Fill the manual name of matching leads that have none.
        #[arg(long)]
        fill_empty_names: bool,
        /// Set the status of matching leads to the file's.
        #[arg(long)]
        set_status: bool,
        /// Only report what the import would do.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Give someone access to a workspace, creating their account if needed. The
    /// password of a new account is read from the first line of standard input.
    Create {
        /// Workspace id or its phone_number_id.
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// owner, admin or agent.
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// Print a one-time link (valid 24 hours) where the person sets a new password. Hand
    /// over the link, not a password; using it signs the account out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum WorkspaceCommand {
    /// Create a workspace for one WhatsApp number; prints its secrets (shown only here).
    Create {
        #[arg(long)]
        name: String,
        /// Kapso's phone_number_id of the WhatsApp number.
        #[arg(long)]
        phone_number_id: String,
        /// Region for numbers typed without a country code.
        #[arg(long, default_value = "ID")]
        region: String,
        #[arg(long, default_value = "Asia/Jakarta")]
        time_zone: String,
        /// Accept deliveries without a signature (local testing only).
        #[arg(long)]
        allow_unsigned_webhooks: bool,
    },
    /// List workspaces (no secrets).
    List,
    /// Replace the webhook secret (default), the Meta verify token and/or the API token.
    RotateSecret {
        /// Workspace id or its phone_number_id (may be omitted when there is only one).
        #[arg(value_name = "WORKSPACE")]
        reference: Option<String>,
        /// The same, as an option.
        #[arg(long, conflicts_with = "reference")]
        workspace: Option<String>,
        /// Replace the webhook signing secret (the default when no flag is given).
        #[arg(long)]
        webhook_secret: bool,
        #[arg(long)]
        verify_token: bool,
        #[arg(long)]
        api_token: bool,
        /// Replace all three.
        #[arg(long)]
        all: bool,
    },
    /// Set the Kapso API key replies are sent with (read from standard input, so it
    /// stays out of the process list and shell history); `--waba-id` for templates.
    SetKapsoKey {
        /// Workspace id or its phone_number_id (may be omitted when there is only one).
        #[arg(value_name = "WORKSPACE")]
        reference: Option<String>,
        /// The WhatsApp Business Account id whose approved templates are offered.
        #[arg(long)]
        waba_id: Option<String>,
        /// Remove the key instead (replies can no longer be sent).
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DeliveriesCommand {
    /// The latest deliveries of a workspace, newest first.
    List {
        /// Workspace id or its phone_number_id.
        #[arg(long)]
        workspace: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One delivery with its raw body and outcome.
    Show { id: String },
    /// Process a stored delivery again (it is idempotent: messages already stored stay as they are).
    Replay { id: String },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The named workspace, or the only one there is.
async fn only_or_named(db: &Db, reference: Option<String>) -> Result<workspaces::Workspace, AppError> {
    match reference {
        Some(reference) => workspaces::find_by_reference(db, &reference)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no workspace `{reference}`"))),
        None => {
            let mut all = workspaces::list(db).await?;
            if all.len() != 1 {
                return Err(AppError::BadRequest(
                    "name the workspace (its id or phone_number_id): there is not exactly one".into(),
                ));
            }
            Ok(all.remove(0))
        }
    }
}

async fn execute(cli: Cli) -> Result<(), String> {
    let db = Db::open(&cli.database_url).await.map_err(|e| e.to_string())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let options = config::leptos_options().map_err(|e| e.to_string())?;
            crate::server::security::SecurityConfig::from_env()?;
            crate::server::replies::ReplyConfig::from_env()?;
            let state =
                AppState::new(db, options, Some(&cli.database_url)).await.map_err(|e| format!("cannot start: {e}"))?;
            http::serve(state).await.map_err(|e| format!("server error: {e}"))
        }
        Command::Workspace(command) => workspace_command(&db, command).await.map_err(|e| e.to_string()),
        Command::Deliveries(command) => deliveries_command(&db, command).await.map_err(|e| e.to_string()),
        Command::User(command) => user_command(&db, command).await.map_err(|e| e.to_string()),
        Command::Backup { to } => {
            let done = crate::server::backup::backup(&db, &cli.database_url, &to).await.map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(done).expect("serialisable"));
            Ok(())
        }
        Command::Leads(LeadsCommand::Import {
            file,
            workspace,
            phone_column,
            name_column,
            status_column,
            fill_empty_names,
            set_status,
            dry_run,
        }) => {
            let options = crate::server::csv_import::CliImport {
                file,
                workspace,
                phone_column,
                name_column,
                status_column,
                fill_empty_names,
                set_status,
                dry_run,
            };
            let report = crate::server::csv_import::run_cli(&db, options).await.map_err(|e| e.to_string())?;
            print_json(&report);
            Ok(())
        }
        Command::Restore { from, force } => {
            let done = crate::server::backup::restore(&db, &cli.database_url, &from, force)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(done).expect("serialisable"));
            Ok(())
        }
    }
}

async fn user_command(db: &Db, command: UserCommand) -> Result<(), AppError> {
    match command {
        UserCommand::Create { workspace, email, role } => {
            let found = workspaces::find_by_reference(db, &workspace)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("no workspace `{workspace}`")))?;
            let role = crate::model::Role::parse(role.trim())
                .ok_or_else(|| AppError::Unprocessable(format!("unknown role `{role}`: use owner, admin or agent")))?;
            let email = accounts::normalize_email(&email)?;
            let (user_id, created) = match accounts::find_user_by_email(db, &email).await? {
                Some(user) => (user.id, false),
                None => {
                    let mut password = String::new();
                    std::io::stdin().read_line(&mut password).map_err(|e| {
                        AppError::BadRequest(format!("cannot read the password from standard input: {e}"))
                    })?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    (accounts::create_user(db, &email, password).await?, true)
                }
            };
            accounts::set_membership(db, &found.id, &user_id, role).await?;
            print_json(&json!({
                "user_id": user_id.to_string(),
                "email": email,
                "workspace_id": found.id.to_string(),
                "role": role.as_str(),
                "account_created": created,
            }));
        }
        UserCommand::ResetPassword { email } => {
            let (user_id, token) = crate::server::passwords::issue_reset(db, &email).await?;
            let expires_in = crate::server::passwords::RESET_LIFETIME.as_secs() / 3600;
            print_json(&json!({
                "user_id": user_id.to_string(),
                "email": accounts::normalize_email(&email)?,
                "reset_url": format!("{}/reset-password?token={token}", config::public_base_url()),
                "expires_in_hours": expires_in,
            }));
        }
    }
    Ok(())
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

async fn workspace_command(db: &Db, command: WorkspaceCommand) -> Result<(), AppError> {
    match command {
        WorkspaceCommand::Create { name, phone_number_id, region, time_zone, allow_unsigned_webhooks } => {
            let (workspace, secrets) = workspaces::create(
                db,
                NewWorkspace { name, phone_number_id, region, time_zone, allow_unsigned_webhooks },
            )
            .await?;
            let mut out = serde_json::to_value(workspace.summary()).expect("serialisable");
            out["webhook_secret"] = json!(secrets.webhook_secret);
            out["verify_token"] = json!(secrets.verify_token);
            out["api_token"] = json!(secrets.api_token);
            out["webhook_url"] = json!(format!("{}{WEBHOOK_PATH}", config::public_base_url()));
            print_json(&out);
        }
        WorkspaceCommand::List => {
            let all = workspaces::list(db).await?;
            print_json(&json!(all.iter().map(|w| w.summary()).collect::<Vec<_>>()));
        }
        WorkspaceCommand::SetKapsoKey { reference, waba_id, clear } => {
            let found = only_or_named(db, reference).await?;
            let key = if clear {
                String::new()
            } else {
                let mut key = String::new();
                std::io::stdin()
                    .read_line(&mut key)
                    .map_err(|e| AppError::BadRequest(format!("cannot read the key from standard input: {e}")))?;
                if key.trim().is_empty() {
                    return Err(AppError::BadRequest(
                        "pipe the key on standard input (or pass --clear to remove it)".into(),
                    ));
                }
                key.trim().to_string()
            };
            let saved =
                crate::server::replies::web::save_kapso_settings(db, &found.id, Some(&key), waba_id.as_deref()).await?;
            print_json(
                &json!({ "id": found.id.to_string(), "kapso_api_key": saved.key_masked, "kapso_waba_id": saved.waba_id }),
            );
        }
        WorkspaceCommand::RotateSecret { reference, workspace, webhook_secret, verify_token, api_token, all } => {
            let found = only_or_named(db, reference.or(workspace)).await?;
            let nothing_chosen = !(webhook_secret || verify_token || api_token);
            let rotation = Rotation {
                webhook_secret: all || webhook_secret || nothing_chosen,
                verify_token: all || verify_token,
                api_token: all || api_token,
            };
            let issued = workspaces::rotate(db, &found.id, rotation).await?;
            let mut out = serde_json::to_value(&issued).expect("serialisable");
            out["id"] = json!(found.id.to_string());
            out["webhook_path"] = json!(WEBHOOK_PATH);
            print_json(&out);
        }
    }
    Ok(())
}

async fn deliveries_command(db: &Db, command: DeliveriesCommand) -> Result<(), AppError> {
    match command {
        DeliveriesCommand::List { workspace, limit } => {
            let found = workspaces::find_by_reference(db, &workspace)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("no workspace `{workspace}`")))?;
            let rows = sqlx::query(
                "SELECT id, idempotency_key, event, format, received_at, outcome FROM webhook_deliveries \
                 WHERE workspace_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
            )
            .bind(found.id.as_str())
            .bind(limit.clamp(1, 1000))
            .fetch_all(&db.pool)
            .await?;
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    json!({
                        "id": row.try_get::<String, _>("id").unwrap_or_default(),
                        "idempotency_key": row.try_get::<Option<String>, _>("idempotency_key").unwrap_or_default(),
                        "event": row.try_get::<Option<String>, _>("event").unwrap_or_default(),
                        "format": row.try_get::<String, _>("format").unwrap_or_default(),
                        "received_at": crate::server::clock::rfc3339(row.try_get("received_at").unwrap_or_default()),
                        "outcome": webhook::log::outcome_json(&row.try_get::<String, _>("outcome").unwrap_or_default()).unwrap_or_default(),
                    })
                })
                .collect();
            print_json(&json!(list));
        }
        DeliveriesCommand::Show { id } => {
            let stored = webhook::log::load(db, &id).await?;
            print_json(&json!({
                "id": id,
                "workspace_id": stored.workspace_id,
                "event": stored.event,
                "format": stored.format,
                "received_at": crate::server::clock::rfc3339(stored.received_at),
                "outcome": webhook::log::outcome_json(&stored.outcome).unwrap_or_default(),
                "raw_body": serde_json::from_str::<serde_json::Value>(&stored.raw_body).unwrap_or(json!(stored.raw_body)),
            }));
        }
        DeliveriesCommand::Replay { id } => {
            let stored = webhook::log::load(db, &id).await?;
            let delivery = webhook::payload::parse(stored.raw_body.as_bytes(), stored.event.as_deref())
                .map_err(|e| AppError::BadRequest(e.to_string()))?;
            let directory = workspaces::WorkspaceDirectory::new(db.clone());
            let mut items = Vec::with_capacity(delivery.items.len());
            for item in delivery.items {
                let workspace = match &item.phone_number_id {
                    Some(pid) => directory.lookup(pid).await?,
                    None => directory.lookup_id(&stored.workspace_id).await?,
                };
                items.push((workspace, item));
            }
            let submission = webhook::ingest::Submission {
                delivery_id: DeliveryId::generate(),
                workspace_id: crate::server::ids::WorkspaceId::from_db(stored.workspace_id.clone()),
                items,
                packed_body: webhook::log::pack(stored.raw_body.as_bytes()),
                idempotency_key: None,
                event: stored.event,
                format: delivery.format,
                received_at: crate::server::clock::now_ms(),
            };
            let committer = Committer::start(db).await?;
            let report = committer.commit(submission).await.map_err(|e| AppError::Unavailable(e.to_string()))?;
            print_json(&serde_json::to_value(&report).expect("serialisable"));
        }
    }
    Ok(())
}
