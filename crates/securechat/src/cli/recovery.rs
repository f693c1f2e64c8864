//! `reset-password` (a one-time code from the operator) and `delete-account`.

use anyhow::bail;

use securechat_client::ClientError;

use super::context::Context;
use super::prompt::PASSWORD;
use super::{DeleteAccountArgs, ForgotPasswordArgs, ResetPasswordArgs};

/// The code in `text`: the code itself, or a link carrying it as `#<key>=CODE`.
pub fn code_from(text: &str, key: &str) -> String {
    let text = text.trim();
    let marker = format!("#{key}=");
    match text.find(&marker) {
        Some(at) => text[at + marker.len()..].to_owned(),
        None => text.to_owned(),
    }
}

pub async fn reset_password(args: ResetPasswordArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let code = code_from(&args.code, "reset");
    let password = PASSWORD.read(args.password.password_stdin, true)?;
    super::account::check_new_password(&password)?;
    let api = ctx.api()?;
    api.reset_password(&code, &password)
        .await
        .map_err(|e| match e {
            ClientError::Http { message, code, .. }
                if matches!(code.as_str(), "reset_code_invalid" | "invalid_field") =>
            {
                anyhow::anyhow!("{message}")
            }
            e => ctx.explain(e),
        })?;
    println!(
        "Password changed; every session of the account was signed out. Log in with \
         `securechat login{} --username NAME`. Your keys did not change: on a new device you \
         still need your key file (`securechat keys import`) to read your history.",
        ctx.profile_flag()
    );
    Ok(())
}

pub async fn forgot_password(args: ForgotPasswordArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let api = ctx.api()?;
    match api.forgot_password(&args.username).await {
        Ok(()) => {
            println!(
                "If that account exists, an email with a reset link is on its way. Open the \
                 link in a browser, or run `securechat reset-password --code LINK`."
            );
            Ok(())
        }
        Err(ClientError::Http { status: 404, .. }) => bail!(
            "this server sends no mail: ask its operator for a reset code \
             (`securechat admin reset-password {}` on the server)",
            args.username
        ),
        Err(e) => Err(ctx.explain(e)),
    }
}

pub async fn delete_account(args: DeleteAccountArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    if !args.yes {
        bail!(
            "deleting your account removes every message you sent, for both sides, and your \
             files, and cannot be undone: run again with --yes to confirm"
        );
    }
    let api = ctx.logged_in()?;
    let password = PASSWORD.read(args.password.password_stdin, false)?;
    api.delete_account(&password).await.map_err(|e| match e {
        ClientError::WrongPassword => {
            anyhow::anyhow!("wrong password: the account was not deleted")
        }
        ClientError::Http { code, .. } if code == "wrong_password" => {
            anyhow::anyhow!("wrong password: the account was not deleted")
        }
        e => ctx.explain(e),
    })?;
    ctx.profile.remove_session()?;
    ctx.profile.remove_keys()?;
    println!(
        "Account deleted. Its keys were removed from profile \"{}\".",
        ctx.profile.name()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_taken_from_a_link_or_as_given() {
        assert_eq!(
            code_from(" https://chat.example.org/#invite=AbC-_9 \n", "invite"),
            "AbC-_9"
        );
        assert_eq!(code_from("AbC-_9", "invite"), "AbC-_9");
        assert_eq!(code_from("https://x/#reset=Q", "reset"), "Q");
    }
}
