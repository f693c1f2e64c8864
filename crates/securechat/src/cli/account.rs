//! `register`, `login`, `logout` and `users`.

use anyhow::bail;

use securechat_client::api::Session;
use securechat_client::password::LoginKind;
use securechat_client::{Api, ClientError, KeyRing};
use securechat_proto::auth::Password;
use securechat_proto::b64;
use securechat_proto::email::Email;
use securechat_proto::username::Username;

use super::context::Context;
use super::output::{clean, table};
use super::profile::ProfileInfo;
use super::prompt::PASSWORD;
use super::shared_session::ProfileSession;
use super::{LoginArgs, PlainArgs, RegisterArgs, UsersArgs};

/// Logs in and saves the session and the profile's account.
async fn log_in(ctx: &Context, api: &Api, login: &str, password: &str) -> anyhow::Result<Session> {
    // An account that logged in with OPAQUE from this profile never sends its password.
    let fallback = !ctx
        .info
        .as_ref()
        .is_some_and(|info| info.opaque && info.server == ctx.server);
    let (session, kind) = api
        .login_with(login, password, fallback)
        .await
        .map_err(|e| match e {
            ClientError::WrongPassword => anyhow::anyhow!("wrong username or password"),
            ClientError::Http { code, .. } if code == "invalid_grant" => {
                anyhow::anyhow!("wrong username or password")
            }
            ClientError::Http { code, message, .. } if code == "ip_policy" => {
                anyhow::anyhow!("the server refused this login from your network: {message}")
            }
            ClientError::Http { code, message, .. } if code == "account_disabled" => {
                anyhow::anyhow!("{message}")
            }
            e => ctx.explain(e),
        })?;
    if kind == (LoginKind::Password { upgraded: true }) {
        println!(
            "Your account now logs in with OPAQUE: from now on your password never reaches              the server."
        );
    }
    Ok(session)
}

/// The password rules the server can no longer check (it never sees the password): the
/// length, and not one of the most common breached passwords.
pub(super) fn check_new_password(password: &str) -> anyhow::Result<()> {
    if let Err(reason) = Password(password.to_owned()).check_policy() {
        bail!("{reason}");
    }
    if securechat_server::auth::common_passwords::is_common(password) {
        bail!("{}", securechat_server::auth::common_passwords::REFUSAL);
    }
    Ok(())
}

/// Remembers the account of the profile.
fn save_account(ctx: &Context, session: &Session, username: &str) -> anyhow::Result<()> {
    ProfileSession::new(ctx.profile.clone()).save_new(session)?;
    ctx.profile.save_info(&ProfileInfo {
        server: ctx.server.clone(),
        username: username.to_owned(),
        user_id: session.user_id,
        opaque: session.opaque,
    })
}

pub async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let username = Username::parse(&args.username)
        .map_err(|e| anyhow::anyhow!("invalid username {:?}: {e}", args.username))?;
    let email = Email::parse(&args.email)
        .map_err(|_| anyhow::anyhow!("invalid email address {:?}", args.email))?;
    if let Some(existing) = ctx.profile.load_keys()? {
        bail!(
            "profile \"{}\" already holds the keys of an account (user {}): register with \
             another --profile",
            ctx.profile.name(),
            existing.user_id()
        );
    }
    let password = PASSWORD.read(args.password.password_stdin, true)?;
    check_new_password(&password)?;

    let keys = KeyRing::generate();
    let mut request = keys
        .registration(username.as_str(), email.as_str())
        .map_err(|e| ctx.explain(e))?;
    request.invite = args
        .invite
        .as_deref()
        .map(|text| super::recovery::code_from(text, "invite"));
    // The keys are saved before the server knows them, so an account never exists without them.
    ctx.profile.save_keys(&keys)?;
    let api = ctx.api()?;
    if let Err(e) = api.register(request, &password).await {
        ctx.profile.remove_keys()?;
        return Err(match e {
            ClientError::Http { message, code, .. }
                if matches!(
                    code.as_str(),
                    "username_taken"
                        | "email_taken"
                        | "invalid_field"
                        | "registration_closed"
                        | "invite_invalid"
                        | "ip_refused"
                ) =>
            {
                anyhow::anyhow!("{message}")
            }
            e => ctx.explain(e),
        });
    }
    ctx.profile.reset_state()?;
    println!(
        "Registered {} (user id {}). Your keys are in {}.",
        username,
        keys.user_id(),
        ctx.profile.dir().display()
    );
    let session = match log_in(&ctx, &api, username.as_str(), &password).await {
        Ok(session) => session,
        Err(e) => bail!(
            "registered, but the login failed: {e:#}. Run `securechat login{} --username {}`",
            ctx.profile_flag(),
            username
        ),
    };
    save_account(&ctx, &session, username.as_str())?;
    println!("Logged in as {username}.");
    println!(
        "Back up your keys with `securechat keys export{} --out FILE`: without them your \
         messages cannot be read.",
        ctx.profile_flag()
    );
    Ok(())
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let password = PASSWORD.read(args.password.password_stdin, false)?;
    let api = ctx.api()?;
    let session = log_in(&ctx, &api, &args.username, &password).await?;
    let keys = ctx.profile.load_keys()?;
    if let Some(keys) = &keys {
        if keys.user_id() != session.user_id {
            let _ = api.logout().await;
            bail!(
                "profile \"{}\" holds the keys of another account (user {}): log in to that \
                 account, or use another --profile for this one",
                ctx.profile.name(),
                keys.user_id()
            );
        }
    }
    let published = api
        .user_keys(session.user_id)
        .await
        .map_err(|e| ctx.explain(e))?;
    // That request may have refreshed the tokens (short-lived access tokens): keep the
    // newest, as the first refresh token is spent.
    let session = api.session().unwrap_or(session);
    if ctx
        .info
        .as_ref()
        .is_some_and(|info| info.user_id != session.user_id)
    {
        // The conversation state belonged to another account.
        ctx.profile.reset_state()?;
    }
    save_account(&ctx, &session, &published.username)?;
    println!(
        "Logged in as {} (user id {}).",
        clean(&published.username),
        session.user_id
    );
    match keys {
        Some(keys) => {
            if b64::encode(keys.identity().public().to_bytes()) != published.identity_key {
                eprintln!(
                    "warning: your local identity key differs from the one the server publishes \
                     for your account: others cannot verify your messages. Import the right keys \
                     with `securechat keys import`."
                );
            }
        }
        None => println!(
            "No keys for this account are stored in profile \"{}\": to read and send messages, \
             run `securechat keys import{} FILE` with the key file you made with \
             `securechat keys export`.",
            ctx.profile.name(),
            ctx.profile_flag()
        ),
    }
    Ok(())
}

pub async fn logout(args: PlainArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let api = ctx.logged_in()?;
    match api.logout().await {
        Ok(()) => {}
        // Already expired or revoked: nothing left to revoke.
        Err(ClientError::Http { status: 401, .. }) => {}
        Err(ClientError::Http { code, .. }) if code == "invalid_grant" => {}
        Err(e) => {
            return Err(anyhow::anyhow!(
                "{:#}. You are still logged in; try again when the server is reachable",
                ctx.explain(e)
            ))
        }
    }
    ctx.profile.remove_session()?;
    println!(
        "Logged out. Your keys and conversation state stay in {}.",
        ctx.profile.dir().display()
    );
    Ok(())
}

pub async fn users(args: UsersArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let api = ctx.logged_in()?;
    let result = api.users().await.map_err(|e| ctx.explain(e));
    let mut users = result?;
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let me = api.session().map(|s| s.user_id);
    if args.json {
        for user in &users {
            println!("{}", serde_json::to_string(user)?);
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let mut name = clean(&u.username);
            if Some(u.id) == me {
                name.push_str(" (you)");
            }
            if u.deleted {
                name.push_str(" (deleted)");
            }
            vec![
                name,
                u.id.to_string(),
                if u.online { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    print!("{}", table(&["USERNAME", "ID", "ONLINE"], &rows));
    Ok(())
}
