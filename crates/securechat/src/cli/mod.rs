//! The command-line client: `securechat register`, `send`, `listen`, … (the server is the
//! default command, see `main.rs`). Each subcommand's arguments are defined here; the work is
//! done in the modules named for it.

mod account;
mod context;
mod errors;
mod events;
mod group;
mod history;
mod keys;
mod listen;
mod outbox;
pub(crate) mod output;
mod profile;
mod prompt;
mod recovery;
mod send;
mod shared_session;

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Where the client's own server is unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Server URL [default: the profile's server, else http://127.0.0.1:8080].
    #[arg(long, env = "SECURECHAT_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Local profile: one account's keys, session and state.
    #[arg(
        long,
        env = "SECURECHAT_PROFILE",
        value_name = "NAME",
        default_value = "default"
    )]
    pub profile: String,
    /// Folder holding the profiles [default: the user's configuration folder].
    #[arg(long, env = "SECURECHAT_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Also trust the certificate authority (or self-signed certificate) in this PEM file for
    /// an https:// server [default: the system's certificate store only].
    #[arg(long, env = "SECURECHAT_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// Options of commands that ask for the account password.
#[derive(Debug, Clone, Args)]
pub struct PasswordOpts {
    /// Read the password from the first line of standard input instead of prompting
    /// (the environment variable SECURECHAT_PASSWORD is also accepted, for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

/// The client's subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an account: generates your keys, registers and logs in.
    Register(RegisterArgs),
    /// Log in to an existing account (by username or email).
    Login(LoginArgs),
    /// Log out: revokes this session on the server (keys and local state stay).
    Logout(PlainArgs),
    /// List the users of the server.
    Users(UsersArgs),
    /// Show, export, import or rotate your keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Send an encrypted text message (to a user, or to a group).
    Send(SendArgs),
    /// Groups: create one, change its members and admins, leave, list yours, show one.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Print your messages as they arrive (everything missed first).
    Listen(ListenArgs),
    /// Print the conversation with a user, oldest first.
    History(HistoryArgs),
    /// Encrypt and send a file.
    Upload(UploadArgs),
    /// Download and decrypt a file someone sent you.
    Download(DownloadArgs),
    /// Delete one of your messages for both sides.
    Delete(DeleteArgs),
    /// Set a new password with a one-time reset code from the server's operator (your keys
    /// do not change).
    ResetPassword(ResetPasswordArgs),
    /// Ask for a password-reset link by email (servers that send mail).
    ForgotPassword(ForgotPasswordArgs),
    /// Delete your account: every message you sent is removed for both sides, your files
    /// too; cannot be undone.
    DeleteAccount(DeleteAccountArgs),
}

#[derive(Debug, Args)]
pub struct ResetPasswordArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The reset code, or the whole reset link.
    #[arg(long, value_name = "CODE")]
    pub code: String,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct ForgotPasswordArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Your username or email address.
    #[arg(long, value_name = "NAME")]
    pub username: String,
}

#[derive(Debug, Args)]
pub struct DeleteAccountArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Confirm that the account and everything it sent should go.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct PlainArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// 3–32 characters of a-z, 0-9, '_', '.', '-'.
    #[arg(long, value_name = "NAME")]
    pub username: String,
    #[arg(long, value_name = "ADDRESS")]
    pub email: String,
    /// An invitation code, or the whole invitation link (servers that register by
    /// invitation).
    #[arg(long, value_name = "CODE")]
    pub invite: Option<String>,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Username or email address.
    #[arg(long, value_name = "NAME")]
    pub username: String,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Your user id, identity key id and encryption keys; with --user, your safety number
    /// with that user (compare it with theirs over another channel).
    Show(KeysShowArgs),
    /// Write your keys to a passphrase-protected file (your backup, or for another device).
    Export(KeysExportArgs),
    /// Read keys from a file made by `keys export`.
    Import(KeysImportArgs),
    /// Make a new encryption key and publish it (older keys stay to read old messages).
    Rotate(PlainArgs),
}

#[derive(Debug, Args)]
pub struct KeysShowArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Also print the safety number with this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// Options of commands that ask for the key-file passphrase.
#[derive(Debug, Clone, Args)]
pub struct PassphraseOpts {
    /// Read the passphrase from the first line of standard input instead of prompting
    /// (the environment variable SECURECHAT_KEY_PASSPHRASE is also accepted, for scripts).
    #[arg(long)]
    pub passphrase_stdin: bool,
}

#[derive(Debug, Args)]
pub struct KeysExportArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The key file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub passphrase: PassphraseOpts,
}

#[derive(Debug, Args)]
pub struct KeysImportArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// A key file made by `securechat keys export`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace local keys even when the file lacks some of them.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub passphrase: PassphraseOpts,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group of you (its admin) and these users; prints the group's id.
    Create(GroupCreateArgs),
    /// Add users to a group (admins only).
    Add(GroupChangeArgs),
    /// Remove members from a group (admins only); they get no new messages.
    Remove(GroupChangeArgs),
    /// Make members admins (admins only).
    Admin(GroupChangeArgs),
    /// Make admins ordinary members again (admins only).
    Unadmin(GroupChangeArgs),
    /// Leave a group.
    Leave(GroupLeaveArgs),
    /// The groups you are in.
    List(PlainArgs),
    /// A group's members, admins and key ids, as verified from its signed chain.
    Show(GroupLeaveArgs),
}

#[derive(Debug, Args)]
pub struct GroupCreateArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The group's name (1 to 64 characters), sent encrypted to its members.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Its colour, #rrggbb [default: one picked from the group id].
    #[arg(long, value_name = "COLOUR", requires = "name")]
    pub color: Option<String>,
    /// The other members' usernames.
    #[arg(value_name = "USER", num_args = 1..)]
    pub members: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GroupChangeArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The group: its id, or its name.
    #[arg(value_name = "GROUP")]
    pub group: String,
    /// The users' usernames.
    #[arg(value_name = "USER", required = true, num_args = 1..)]
    pub users: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GroupLeaveArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The group: its id, or its name.
    #[arg(value_name = "GROUP")]
    pub group: String,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Recipient's username.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub to: Option<String>,
    /// Or the group (its id or name) to send to.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Mark the message hidden (the recipient's app conceals it until asked).
    #[arg(long)]
    pub hidden: bool,
    /// Self-destruct this many seconds after the server receives it (5 to 604800).
    #[arg(long, value_name = "SECS")]
    pub expires: Option<u64>,
    /// The message; `-` reads it from standard input.
    #[arg(required = true, value_name = "TEXT", num_args = 1..)]
    pub text: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Exit once everything missed has been printed.
    #[arg(long)]
    pub once: bool,
    /// Exit after printing N messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Show message ids (for `delete`).
    #[arg(long)]
    pub ids: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The other user's username.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub with: Option<String>,
    /// Or a group (its id or name).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// How many of the latest messages.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Show message ids (for `delete`).
    #[arg(long)]
    pub ids: bool,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Recipient's username.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub to: Option<String>,
    /// Or the group (its id or name) to send to.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// The file to send.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A text sent with the file.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub caption: String,
    /// MIME type [default: guessed from the file name].
    #[arg(long, value_name = "TYPE")]
    pub mime: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The file message's id (as `listen` or `history` print it).
    #[arg(value_name = "MSG_ID")]
    pub msg_id: String,
    /// Where to write the decrypted file.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// The conversation to look in when the message is not known locally
    /// [default: every conversation].
    #[arg(long, value_name = "NAME")]
    pub with: Option<String>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The other user of the conversation.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub with: Option<String>,
    /// Or the group (its id or name); an admin may delete any member's message.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// The id of your message to delete.
    #[arg(value_name = "MSG_ID")]
    pub msg_id: String,
}

/// Runs a client command to its end. A failure is printed as one plain sentence (with its
/// causes) and the process exits with status 1.
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
        .and_then(|runtime| runtime.block_on(dispatch(command)));
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn dispatch(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Register(args) => account::register(args).await,
        ClientCommand::Login(args) => account::login(args).await,
        ClientCommand::Logout(args) => account::logout(args).await,
        ClientCommand::Users(args) => account::users(args).await,
        ClientCommand::Keys(KeysCommand::Show(args)) => keys::show(args).await,
        ClientCommand::Keys(KeysCommand::Export(args)) => keys::export(args),
        ClientCommand::Keys(KeysCommand::Import(args)) => keys::import(args).await,
        ClientCommand::Keys(KeysCommand::Rotate(args)) => keys::rotate(args).await,
        ClientCommand::Send(args) => send::send(args).await,
        ClientCommand::Group(command) => group::run(command).await,
        ClientCommand::Upload(args) => send::upload(args).await,
        ClientCommand::Delete(args) => send::delete(args).await,
        ClientCommand::ResetPassword(args) => recovery::reset_password(args).await,
        ClientCommand::DeleteAccount(args) => recovery::delete_account(args).await,
        ClientCommand::ForgotPassword(args) => recovery::forgot_password(args).await,
        ClientCommand::Listen(args) => listen::listen(args).await,
        ClientCommand::History(args) => history::history(args).await,
        ClientCommand::Download(args) => history::download(args).await,
    }
}
