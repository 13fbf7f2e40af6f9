//! The `skill` command line as clap parses it: [`Cli`] (global flags), [`Command`] and every
//! subcommand's arguments. Definitions only: this module names no command module, so dispatch
//! (`cmd/mod.rs`) → commands (`cmd/*.rs`) → arguments (here) and context (`cmd/context.rs`) is
//! acyclic (tidy checks it).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use support_knowledge::import::MAX_BYTES;

#[derive(Debug, Parser)]
#[command(
    name = "skill",
    version,
    about = "Agent-first customer support platform",
    after_help = "Exit codes: 0 ok, 1 failed, 2 bad usage or settings, 3 a check found a problem."
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Settings file (default: ./support.toml, or $SUPPORT_CONFIG).
    #[arg(long, global = true, env = "SUPPORT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every router and the runner in one process, on the embedded defaults.
    Dev(DevArgs),
    /// Run every router and the runner in one process, for production: no demo data, no
    /// sandbox, no generated secrets.
    ///
    /// Refuses to start (exit 2, naming the setting) without `master_key`, `front.api_token`
    /// and at least one of `front.signing_secrets`.
    Serve(ServeArgs),
    /// Settings.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// API tokens for /api/v1 (shown once, stored hashed).
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Users: who approvals count as (tokens belong to users, Slack ids are linked to them).
    #[command(subcommand)]
    Users(UsersCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Check settings, the database, migrations and every app's SDK endpoint.
    Health,
    /// Onboard a product: register it, generate its SDK secret (shown once), scaffold an
    /// integration. Prompts on a terminal; otherwise every value must be a flag.
    Init(InitArgs),
    /// Registered apps: list, show, update, remove.
    #[command(subcommand)]
    Apps(AppsCmd),
    /// SDK secrets: rotate without downtime.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Call every SDK method on an app's endpoint with signed requests, print a conformance
    /// table and record the app's capabilities.
    Doctor(DoctorArgs),
    /// Approvals: list, approve, reject, edit (the same checks as the dashboard).
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// Actions: retry a dead-lettered one (the same checks as the dashboard).
    #[command(subcommand)]
    Actions(ActionsCmd),
    /// Dead letters: list what failed for good (actions, runs, Stripe deliveries) and replay
    /// one (the same checks as the dashboard).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCmd),
    /// Run scenario files through the real pipeline (Front sandbox, example app, offline
    /// agent) and report routing, drafts and latency.
    Eval(EvalArgs),
    /// Automatic sending: kill switches, status, modes, promotion, the simulated month.
    #[command(subcommand)]
    Autosend(AutosendCmd),
    /// Conversations the platform has handled.
    #[command(subcommand)]
    Conversations(ConversationsCmd),
    /// Re-run past inbound decisions on their recorded inputs (tool calls answered from the
    /// recording) and print what would change: one run, or `--since 7d --app X` in bulk.
    Replay(ReplayArgs),
    /// Trust per app × category from the learning loop's signals.
    #[command(subcommand)]
    Trust(TrustCmd),
    /// The knowledge base: import, list, show, rm, search, reindex.
    #[command(subcommand)]
    Kb(KbCmd),
    /// SLA policies and business-hours schedules: list, show, set, rm (validated, audited).
    #[command(subcommand)]
    Sla(SlaCmd),
    /// Canned responses: list, show, add, edit, rm (every edit a new version).
    #[command(subcommand)]
    Canned(CannedCmd),
}

// `skill dev`

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Generate secrets, seed the demo apps, an admin and a token; write DIR/demo.json.
    #[arg(long)]
    pub demo: bool,
    /// Where the SQLite database and demo files live (default .support).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:4100).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// With --demo, allow a non-loopback --bind (the demo's generated secrets, admin token
    /// and Front sandbox then face the network).
    #[arg(long)]
    pub allow_remote: bool,
}

// `skill serve`

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the SQLite database lives when `database_url` is not set (default .support).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default: the `bind` setting, 127.0.0.1:4100).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
}

// `skill config`

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective settings, secrets redacted.
    Show,
}

// `skill tokens`

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, agent or viewer.
        #[arg(long)]
        role: String,
        /// The email of the user the token acts for (its approvals count as that user's);
        /// without it the token gets a user of its own.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

// `skill users`

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Create a user (no password: set one with `reset-password`).
    Create {
        email: String,
        /// admin, agent or viewer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List users, their linked Slack ids and whether they are active.
    List,
    /// Change a user's role (their tokens act with at most this role).
    SetRole { email: String, role: String },
    /// Deactivate a user: their tokens stop working and their Slack clicks are refused.
    Deactivate { email: String },
    /// Set a new random password, printed once.
    ResetPassword { email: String },
    /// Link a Slack user id (`U…`) to a user: their Slack clicks count as this user's.
    LinkSlack {
        email: String,
        slack_user_id: String,
    },
    /// Unlink the user's Slack id: their Slack clicks are refused again.
    UnlinkSlack { email: String },
}

// `skill audit`

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain (from the last archive's genesis) and report the first broken link.
    Verify,
    /// Export the rows written before a date (JSON lines with the range's head hash) to a new
    /// file, delete them and record the new genesis; audited. The only way rows leave the log.
    Archive(ArchiveArgs),
    /// Check an archive file on its own (every row's hash and link, up to its head hash).
    #[command(name = "verify-archive")]
    VerifyArchive(VerifyArchiveArgs),
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive the rows written before this instant: `YYYY-MM-DD` (midnight UTC) or RFC 3339
    /// (`2026-11-01T12:00:00Z`). Must not be in the future.
    #[arg(long)]
    pub before: String,
    /// Where to write the archive (JSON lines). Default:
    /// `audit-archive-<from>-<through>.jsonl` in the current directory. Never overwritten.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Say what would be archived; write and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArchiveArgs {
    /// An archive written by `skill audit archive`.
    pub file: PathBuf,
}

// `skill init`

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaffoldKind {
    /// A Rust crate implementing `support_sdk::SupportIntegration`.
    Rust,
    /// A TypeScript module for `@skillrecordings/sdk` (`createSupportHandler`).
    Ts,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Product name, e.g. "Typewise".
    #[arg(long)]
    pub name: Option<String>,
    /// Short id: 2-40 lowercase letters, digits or '-', e.g. typescript-course.
    #[arg(long)]
    pub slug: Option<String>,
    /// Front inbox id(s) whose conversations belong to the app (inb_…); repeat or comma-separate.
    #[arg(long = "front-inbox", value_delimiter = ',')]
    pub front_inbox: Vec<String>,
    /// The app's SDK endpoint, e.g. https://app.example.com/api/support.
    #[arg(long)]
    pub url: Option<String>,
    /// Also write an integration skeleton.
    #[arg(long, value_enum)]
    pub scaffold: Option<ScaffoldKind>,
    /// Where to write the skeleton (default ./<slug>-support); must not exist or be empty.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// `skill apps`

#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// List registered apps.
    List,
    /// Show one app: inboxes, endpoint, policy, capabilities, secret ids.
    Show { slug: String },
    /// Change an app; only the given fields change.
    Update(UpdateArgs),
    /// Remove an app and its secrets.
    Remove {
        slug: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Print the Stripe Connect link that connects the app's Stripe account (single use,
    /// valid 30 minutes; Stripe sends the user back to `{public_url}/stripe/oauth/callback`).
    ConnectStripe { slug: String },
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub slug: String,
    #[arg(long)]
    pub name: Option<String>,
    /// New SDK endpoint URL (clears the recorded capabilities: run `skill doctor` again).
    #[arg(long)]
    pub url: Option<String>,
    /// Replace the Front inbox ids; repeat or comma-separate.
    #[arg(long = "front-inbox", value_delimiter = ',')]
    pub front_inbox: Vec<String>,
    /// Refunds inside this many days run without approval.
    #[arg(long)]
    pub refund_auto_days: Option<i64>,
    /// Refunds up to this many days need approval; older ones are escalated.
    #[arg(long)]
    pub refund_approval_days: Option<i64>,
    /// Transfers inside this many days run without approval.
    #[arg(long)]
    pub transfer_auto_days: Option<i64>,
    /// Where approvals go (e.g. a Slack channel id).
    #[arg(long)]
    pub approval_channel: Option<String>,
    /// connected or disconnected.
    #[arg(long)]
    pub status: Option<String>,
}

// `skill keys`

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Add a new SDK secret (shown once) next to the live ones; with --retire-old, instead
    /// remove every secret but the newest (once the app uses it).
    Rotate {
        slug: String,
        #[arg(long)]
        retire_old: bool,
    },
}

// `skill doctor`

#[derive(Debug, Args)]
pub struct DoctorArgs {
    pub slug: String,
    /// Per-call timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// The email `lookupUser` probes with (a customer of the app shows more of its data).
    #[arg(long, default_value = "support-doctor@example.com")]
    pub email: String,
}

// `skill approvals`

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// List approvals (pending by default).
    List {
        /// pending, approved, rejected, expired or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Approve an action (by approval id or action id).
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Decide as this user (email): the vote counts as theirs, once, like their tokens and
        /// linked Slack id. Without it the vote is the operating-system user's (`cli:<user>`).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
    /// Reject an action with a reason.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
        /// Decide as this user (email): the vote counts as theirs, once, like their tokens and
        /// linked Slack id. Without it the vote is the operating-system user's (`cli:<user>`).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
    /// Approve with a smaller amount (in cents) and/or an edited reply.
    Edit {
        id: String,
        #[arg(long)]
        amount_cents: Option<i64>,
        #[arg(long)]
        draft: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        /// Decide as this user (email): the vote counts as theirs, once, like their tokens and
        /// linked Slack id. Without it the vote is the operating-system user's (`cli:<user>`).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
}

// `skill actions`

/// `skill actions retry <id>`: retry a dead-lettered action (the same checks as
/// `POST /api/v1/actions/{id}/retry`).
#[derive(Debug, Subcommand)]
pub enum ActionsCmd {
    /// Retry a failed, dead-lettered action with a new idempotency key.
    Retry { id: String },
}

// `skill dead-letters`

/// `skill dead-letters list|replay` (the same checks as `/api/v1/dead-letters`).
#[derive(Debug, Subcommand)]
pub enum DeadLettersCmd {
    /// Open dead letters, newest first (`--all`: resolved ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Replay one: an action is retried with a new idempotency key, a run is re-queued where
    /// it failed, a Stripe delivery is applied again.
    Replay { id: String },
}

// `skill eval`

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folders of scenario files (see shared/scenarios/README.md); with several, each is
    /// reported and then the total.
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// Exit 3 below the thresholds: respond precision 0.92, recall 0.95, FP rate 0.03,
    /// FN rate 0.02, escalate_urgent recall 1.0 (on the total of every folder).
    #[arg(long)]
    pub gate: bool,
    /// Run the agent step through a model: a provider named in `llm.providers`.
    #[arg(long, requires = "model")]
    pub provider: Option<String>,
    /// The model for `--provider`.
    #[arg(long, requires = "provider")]
    pub model: Option<String>,
    /// Which steps run on the model: the agent (default), the route step's classifier, or
    /// both.
    #[arg(long, value_enum, default_value = "agent", requires = "provider")]
    pub steps: EvalSteps,
    /// Certify instead of reporting: run each registered app's scenarios by category through
    /// the pipeline under the app's current policy and store, per app and category, pass/fail
    /// with the hash of the inputs (policy, models, prompts, knowledge). Automatic sending
    /// needs a current, passing certificate.
    #[arg(long, conflicts_with_all = ["gate", "provider"])]
    pub certify: bool,
    /// With `--certify`: only this app.
    #[arg(long, requires = "certify")]
    pub app: Option<String>,
}

/// The steps `skill eval --provider` runs on the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalSteps {
    Agent,
    Classifier,
    Both,
}

// `skill autosend`

#[derive(Debug, Subcommand)]
pub enum AutosendCmd {
    /// Switch automatic sending back on (everywhere, or for `--app`).
    On {
        #[arg(long)]
        app: Option<String>,
    },
    /// Stop all automatic sending at once (everywhere, or for `--app`); replies become drafts.
    Off {
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Each app × category: mode, trust, certificate and what the gate says now.
    Status {
        #[arg(long)]
        app: Option<String>,
    },
    /// Put a category in `shadow` or `draft` mode (`auto` goes through `promote`).
    Mode {
        app: String,
        category: String,
        mode: String,
    },
    /// Promote a category to `auto` when the gate holds (policy, never list, switches, trust,
    /// certificate); refused with the failing checks otherwise.
    Promote { app: String, category: String },
    /// A simulated month on the scenarios: the share of messages that would have been sent
    /// automatically and the human-touch rate per category.
    Simulate {
        /// Scenario folders (labelled messages) used as each day's traffic.
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long, default_value_t = 0.01)]
        bad_outcome_rate: f64,
        #[arg(long, default_value_t = 16)]
        seed: u64,
    },
}

// `skill conversations`

#[derive(Debug, Subcommand)]
pub enum ConversationsCmd {
    /// The newest conversations.
    List {
        #[arg(long)]
        app: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One conversation: messages, actions and its audit trail.
    Show { front_id: String },
}

// `skill replay`

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The inbound run to replay, or a Front conversation id (its newest inbound run).
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    pub run_id: Option<String>,
    /// Replay every inbound run of `--app` created in this window (`7d`, `12h`, `30m`).
    #[arg(long, requires = "app")]
    pub since: Option<String>,
    /// The app whose runs a bulk replay takes.
    #[arg(long)]
    pub app: Option<String>,
    /// Replay with a model agent: a provider named in `llm.providers`.
    #[arg(long, requires = "model")]
    pub provider: Option<String>,
    /// The model for `--provider`.
    #[arg(long, requires = "provider")]
    pub model: Option<String>,
    /// Also re-classify with the model where the classifier decides the route.
    #[arg(long, requires = "provider")]
    pub classifier: bool,
    /// Use the app's current policy and canned responses instead of the recorded ones (what
    /// would the new configuration have decided?).
    #[arg(long)]
    pub current_config: bool,
    /// Answer `searchKnowledge` calls the recording does not hold (a model searching other
    /// words) from the app's current knowledge base instead of with a `not recorded` error.
    #[arg(long)]
    pub current_kb: bool,
}

// `skill trust`

#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// Score (decayed mean, 30-day half-life), effective samples, 7-day trend and mode.
    Show {
        #[arg(long)]
        app: Option<String>,
    },
}

// `skill kb`

/// `skill kb …`
#[derive(Debug, Subcommand)]
pub enum KbCmd {
    /// Import markdown (front matter: title, tags, url, visibility) and HTML files, recursively;
    /// an unchanged file changes nothing, a changed one makes a new version. One transaction:
    /// a bad file is reported with its path and line and nothing is imported.
    Import {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        app: String,
        /// The largest file accepted, in bytes.
        #[arg(long, default_value_t = MAX_BYTES)]
        max_bytes: usize,
    },
    /// An app's articles (all apps without --app).
    List {
        #[arg(long)]
        app: Option<String>,
    },
    /// One article: its current version, its versions and where it was used.
    Show {
        id: String,
        /// Show this version's body instead of the current one.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Remove an article (its versions stay for the drafts that cite them).
    Rm { id: String },
    /// Search an app's current articles as the agent does (`--internal`: internal ones too).
    Search {
        query: String,
        #[arg(long)]
        app: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        internal: bool,
    },
    /// Rebuild the index from the store and report how long it took.
    Reindex,
    /// Score retrieval on a labelled question set: recall@1, recall@5 and MRR (by article,
    /// over the first 10) for lexical (tantivy), dense and hybrid (RRF k = 60) side by side,
    /// dense and hybrid with the configured embedder (`kb.embedder`; none: lexical only).
    Eval {
        /// The knowledge base, `<dir>/<app>/*.md` (default: the demo's, crates/knowledge/demo).
        #[arg(long)]
        kb: Option<PathBuf>,
        /// Labelled questions, one `{app, question, expected, kind, split}` per line (default:
        /// crates/knowledge/demo-eval/questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Also a row per split and per kind of question.
        #[arg(long)]
        detail: bool,
    },
}

// `skill sla`

/// What an `skill sla` command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlaKind {
    Policy,
    Schedule,
}

/// `skill sla …`
#[derive(Debug, Subcommand)]
pub enum SlaCmd {
    /// Policies (of --app) and schedules.
    List {
        #[arg(long)]
        app: Option<String>,
    },
    /// One policy (`--app A ID`) or schedule (`ID`).
    Show {
        kind: SlaKind,
        id: String,
        #[arg(long)]
        app: Option<String>,
    },
    /// Create or replace a policy or a schedule, from `--file` (TOML, or JSON when it ends in
    /// `.json`) or from flags.
    Set(Box<SlaSetArgs>),
    /// Remove a policy (`--app A ID`) or a schedule no policy uses (`ID`).
    Rm {
        kind: SlaKind,
        id: String,
        #[arg(long)]
        app: Option<String>,
    },
    /// Set a conversation's priority by hand (low, normal, high, urgent; kept over the
    /// route's): audited, and the SLA clock is re-evaluated by the runner.
    Priority {
        /// Front's conversation id (`cnv_…`).
        conversation: String,
        priority: String,
    },
}

#[derive(Debug, Args)]
pub struct SlaSetArgs {
    pub kind: SlaKind,
    /// A whole policy or schedule (the API's JSON fields), TOML or JSON.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Policy: its app.
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Policy: lower is tried first.
    #[arg(long, default_value_t = 0)]
    pub position: i64,
    /// Policy condition (repeatable): low, normal, high, urgent.
    #[arg(long)]
    pub priority: Vec<String>,
    /// Policy condition (repeatable).
    #[arg(long)]
    pub category: Vec<String>,
    /// Policy condition (repeatable): a Front tag.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Policy condition: only escalated (`true`) or only not escalated (`false`).
    #[arg(long)]
    pub escalated: Option<bool>,
    /// Policy target in minutes.
    #[arg(long)]
    pub first_reply: Option<u32>,
    #[arg(long)]
    pub next_reply: Option<u32>,
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Policy: count the targets in the schedule's business hours.
    #[arg(long)]
    pub business_hours: bool,
    /// Policy: warn this many minutes before each breach.
    #[arg(long, default_value_t = 0)]
    pub warn_before: u32,
    /// Policy: the schedule's id.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Policy: keep the resolution clock running while waiting on the customer.
    #[arg(long)]
    pub no_pause: bool,
    /// Schedule: an IANA time zone.
    #[arg(long)]
    pub timezone: Option<String>,
    /// Schedule (repeatable): `mon-fri 09:00-17:00`, `sat 10:00-14:00`.
    #[arg(long)]
    pub hours: Vec<String>,
    /// Schedule (repeatable): a day off, `YYYY-MM-DD`.
    #[arg(long)]
    pub holiday: Vec<String>,
}

// `skill canned`

/// `skill canned …`
#[derive(Debug, Subcommand)]
pub enum CannedCmd {
    /// An app's canned responses and every app's (all without --app); stale ones marked.
    List {
        #[arg(long)]
        app: Option<String>,
    },
    /// One canned response: its current version (or --version), its variables and versions.
    Show {
        id: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Write a new canned response. The body is a `{{var}}` template (first_name, name, email,
    /// product, app_name, instructor); an unknown variable is refused.
    Add {
        /// The app (none: every app).
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        name: String,
        /// Ways a customer asks, separated by `|`; it answers when the words of one are in a
        /// sentence of the message (the knowledge base's retrieval, `router::CANNED_MIN_SCORE`).
        #[arg(long)]
        trigger: String,
        #[arg(
            long,
            conflicts_with = "body_file",
            required_unless_present = "body_file"
        )]
        body: Option<String>,
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// An article version it is built on, `ARTICLE_ID@VERSION` (repeat); it goes stale
        /// when the article changes.
        #[arg(long = "source")]
        sources: Vec<String>,
    },
    /// Write a new version; what is not given stays as it is.
    Edit {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        trigger: Option<String>,
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// Replace the cited article versions (`ARTICLE_ID@VERSION`, repeat).
        #[arg(long = "source", conflicts_with = "no_sources")]
        sources: Vec<String>,
        /// Cite no article any more.
        #[arg(long)]
        no_sources: bool,
        /// Refuse the edit when the current version is not this one.
        #[arg(long)]
        base_version: Option<i64>,
    },
    /// Remove a canned response (its versions stay).
    Rm { id: String },
}
