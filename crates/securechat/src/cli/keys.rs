//! `keys show`, `keys export`, `keys import` and `keys rotate`.

use std::collections::HashSet;

use anyhow::{bail, Context as _};

use securechat_client::KeyRing;
use securechat_crypto::fingerprint::{safety_number, short_key_id};
use securechat_crypto::identity::EncryptionKey;
use securechat_proto::b64;
use securechat_proto::keys::UserKeys;

use super::context::Context;
use super::output::{clean, table, time};
use super::profile::write_private;
use super::prompt::PASSPHRASE;
use super::{KeysExportArgs, KeysImportArgs, KeysShowArgs, PlainArgs};

/// Shortest key-file passphrase accepted on export.
const MIN_PASSPHRASE_CHARS: usize = 10;

/// The published id of an encryption key: `b64u(SHA-256(x25519)[0..8])`.
fn key_id(key: &EncryptionKey) -> String {
    b64::encode(key.key_id())
}

fn local_keys(ctx: &Context) -> anyhow::Result<KeyRing> {
    ctx.profile.load_keys()?.ok_or_else(|| ctx.no_keys())
}

pub async fn show(args: KeysShowArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let keys = local_keys(&ctx)?;
    let identity = keys.identity().public();
    println!("User id:       {}", keys.user_id());
    println!("Identity key:  {}", short_key_id(&identity));

    // What the server publishes, when logged in (created times, and a consistency check).
    let published: Option<UserKeys> = match ctx.profile.load_session()? {
        Some(_) => {
            let api = ctx.logged_in()?;
            let result = api.user_keys(keys.user_id()).await;
            match result {
                Ok(published) => Some(published),
                Err(e) => {
                    eprintln!(
                        "warning: cannot fetch your published keys: {:#}",
                        ctx.explain(e)
                    );
                    None
                }
            }
        }
        None => None,
    };
    if let Some(published) = &published {
        if b64::encode(identity.to_bytes()) != published.identity_key {
            eprintln!(
                "warning: the server publishes another identity key for your account: others \
                 cannot verify your messages"
            );
        }
    }

    let active: HashSet<String> = keys.active_public().iter().map(key_id).collect();
    let rows: Vec<Vec<String>> = keys
        .pairs()
        .iter()
        .map(|pair| {
            let id = key_id(&pair.public());
            let record = published
                .as_ref()
                .and_then(|p| p.encryption_keys.iter().find(|k| k.key_id == id));
            let status = if active.contains(&id) {
                "active"
            } else {
                "retired"
            };
            let created = record.map_or_else(
                || {
                    if published.is_some() {
                        "(not published)".to_owned()
                    } else {
                        "-".to_owned()
                    }
                },
                |r| time(r.created_at),
            );
            vec![id, status.to_owned(), created]
        })
        .collect();
    println!("Encryption keys:");
    print!("{}", table(&["KEY ID", "STATUS", "CREATED"], &rows));

    if let Some(name) = &args.user {
        let mut client = ctx.client()?;
        let result = async {
            let peer = client.find_peer(name).await?;
            client
                .chat
                .contact_keys(peer.id)
                .await
                .map_err(|e| client.explain(e))?;
            let their = client
                .chat
                .pinned_identity(&peer.id)
                .context("the contact's identity key is not pinned")?;
            let number = safety_number(&client.me(), &identity, &peer.id, &their);
            println!();
            println!(
                "{}'s identity key: {}",
                clean(&peer.username),
                short_key_id(&their)
            );
            println!("Safety number with {}:", clean(&peer.username));
            let grouped = number.grouped();
            let groups: Vec<&str> = grouped.split(' ').collect();
            for line in groups.chunks(4) {
                println!("  {}", line.join(" "));
            }
            println!(
                "Compare it with the one {} sees (in person or by a call): if they match, \
                 nobody is in the middle.",
                clean(&peer.username)
            );
            Ok(())
        }
        .await;
        client.finish(result)?;
    }
    Ok(())
}

pub fn export(args: KeysExportArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let keys = local_keys(&ctx)?;
    if args.out.exists() && !args.force {
        bail!(
            "{} exists: choose another --out, or add --force to replace it",
            args.out.display()
        );
    }
    let passphrase = PASSPHRASE.read(args.passphrase.passphrase_stdin, true)?;
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        bail!("the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long");
    }
    let file = keys.export(&passphrase).map_err(|e| ctx.explain(e))?;
    write_private(&args.out, file.as_bytes())?;
    println!(
        "Exported the keys of user {} to {}. Keep the file and its passphrase safe: together \
         they read all your messages.",
        keys.user_id(),
        args.out.display()
    );
    Ok(())
}

pub async fn import(args: KeysImportArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let passphrase = PASSPHRASE.read(args.passphrase.passphrase_stdin, false)?;
    let keys = KeyRing::import(&text, &passphrase).map_err(|e| {
        anyhow::anyhow!(
            "cannot import {}: wrong passphrase, or not a securechat key file ({e})",
            args.file.display()
        )
    })?;
    if let Some(session) = ctx.profile.load_session()? {
        if session.user_id != keys.user_id() {
            bail!(
                "these are the keys of user {}, but profile \"{}\" is logged in as user {}: \
                 import them into another --profile",
                keys.user_id(),
                ctx.profile.name(),
                session.user_id
            );
        }
    }
    if let Some(local) = ctx.profile.load_keys()? {
        if local.user_id() != keys.user_id() {
            bail!(
                "profile \"{}\" already holds the keys of user {}: import into another --profile",
                ctx.profile.name(),
                local.user_id()
            );
        }
        let imported: HashSet<String> = keys.pairs().iter().map(|p| key_id(&p.public())).collect();
        let missing = local
            .pairs()
            .iter()
            .filter(|p| !imported.contains(&key_id(&p.public())))
            .count();
        if missing > 0 && !args.force {
            bail!(
                "the key file lacks {missing} key(s) this profile holds (messages to them could \
                 no longer be read): export the keys again from this profile, or add --force"
            );
        }
    }
    ctx.profile.save_keys(&keys)?;
    println!(
        "Imported the keys of user {} ({} encryption key(s)).",
        keys.user_id(),
        keys.pairs().len()
    );
    if ctx.profile.load_session()?.is_none() {
        println!(
            "Now log in with `securechat login{} --username NAME`.",
            ctx.profile_flag()
        );
    }
    Ok(())
}

pub async fn rotate(args: PlainArgs) -> anyhow::Result<()> {
    let ctx = Context::new(&args.opts)?;
    let mut keys = local_keys(&ctx)?;
    let api = ctx.logged_in()?;
    if api.session().map(|s| s.user_id) != Some(keys.user_id()) {
        bail!("this profile's keys belong to another account than its session");
    }
    let record = keys.rotate();
    // Saved first: a published key whose private half was lost would make new messages
    // unreadable, while an unpublished local key is harmless.
    ctx.profile.save_keys(&keys)?;
    let result = api.publish_key(&record).await;
    result.map_err(|e| {
        anyhow::anyhow!(
            "{:#}. The new key is saved locally but not published: run `securechat keys rotate` \
             again",
            ctx.explain(e)
        )
    })?;
    println!(
        "New encryption key {} published; older keys are retired and still read old messages.",
        record.key_id
    );
    println!(
        "Update your backup: `securechat keys export{} --out FILE`.",
        ctx.profile_flag()
    );
    Ok(())
}
