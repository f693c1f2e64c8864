//! Running a server for a family from the command line: registration by invitation
//! (`securechat admin invite`), a forgotten password (`admin reset-password`, then
//! `reset-password`), and a person deleting their own account (`delete-account`).

mod support;

use serde_json::Value;

use support::*;

const NEW_PASSWORD: &str = "a different long passphrase";

fn admin(server: &Server, user: &User, args: &[&str]) -> Value {
    let mut all: Vec<String> = vec!["admin".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all.extend(server.admin_args());
    all.extend([
        "--public-url".to_owned(),
        server.base.clone(),
        "--json".to_owned(),
    ]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = user.ok(&all, "");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn register_args<'a>(user: &'a User, email: &'a str) -> Vec<&'a str> {
    vec![
        "register",
        "--username",
        user.name,
        "--email",
        email,
        "--password-stdin",
    ]
}

#[test]
fn a_family_server_by_invitation_with_a_password_reset_and_an_account_deleted() {
    let server = start_server_with(|s| {
        s.registration = securechat_server::settings::RegistrationMode::Invite;
    });
    let mum = User::new(&server, "mum");
    let kid = User::new(&server, "kid");
    mum.register(); // the first account needs no invitation

    let email = "kid@example.org";
    let refused = kid.fails(&register_args(&kid, email), &format!("{PASSWORD}\n"));
    assert!(refused.contains("needs an invitation"), "{refused}");
    assert!(
        !kid.profile_dir().join("keys.json").exists(),
        "no keys are left behind by a refused registration"
    );

    let invite = admin(&server, &mum, &["invite", "--note", "for the kid"]);
    let link = invite["link"].as_str().expect("link");
    assert!(
        link.starts_with(&format!("{}/#invite=", server.base)),
        "{link}"
    );
    let mut args = register_args(&kid, email);
    args.extend(["--invite", link]);
    let out = kid.ok(&args, &format!("{PASSWORD}\n"));
    assert!(out.contains("Logged in as kid"), "{out}");
    let listed = mum.ok(
        &[
            &["admin", "invites", "--json"][..],
            &server
                .admin_args()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ]
        .concat(),
        "",
    );
    let invites = json_lines(&listed);
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0]["note"], "for the kid");
    assert!(invites[0]["used_by"].is_string(), "{listed}");

    mum.ok(&["send", "--to", "kid", "before the reset"], "");

    // The kid forgets the password. This server sends no mail, so the operator makes a code.
    let no_mail = kid.fails(&["forgot-password", "--username", "kid"], "");
    assert!(no_mail.contains("sends no mail"), "{no_mail}");
    let reset = admin(&server, &mum, &["reset-password", "kid"]);
    assert_eq!(reset["username"], "kid");
    let link = reset["link"].as_str().expect("link");
    let out = kid.ok(
        &["reset-password", "--code", link, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(out.contains("Your keys did not change"), "{out}");
    let again = kid.fails(
        &["reset-password", "--code", link, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(again.contains("used already"), "{again}");
    let wrong = kid.fails(
        &["login", "--username", "kid", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(wrong.contains("wrong username or password"), "{wrong}");
    kid.ok(
        &["login", "--username", "kid", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    let history = kid.ok(&["history", "--with", "mum"], "");
    assert!(
        history.contains("before the reset"),
        "the keys are the same, so history still reads: {history}"
    );
    kid.ok(&["send", "--to", "mum", "from the kid"], "");

    // The kid leaves.
    let unconfirmed = kid.fails(
        &["delete-account", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(unconfirmed.contains("--yes"), "{unconfirmed}");
    let out = kid.ok(
        &["delete-account", "--yes", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(out.contains("Account deleted"), "{out}");
    let users = mum.ok(&["users"], "");
    assert!(
        users.lines().any(|l| l.starts_with("kid (deleted)")),
        "{users}"
    );
    let history = mum.ok(&["history", "--with", "kid"], "");
    assert!(history.contains("before the reset"), "{history}");
    assert!(
        !history.contains("from the kid"),
        "what the kid sent left with the account: {history}"
    );
    let gone = kid.fails(
        &["login", "--username", "kid", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(gone.contains("wrong username or password"), "{gone}");
}
