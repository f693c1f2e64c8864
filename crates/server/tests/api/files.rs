//! Encrypted file transfer.

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use securechat_client::chat::Received;
use securechat_proto::ws::{ClientFrame, ServerEvent};

use crate::helpers::{spawn_app, spawn_app_with, wait_for};

#[tokio::test]
async fn a_file_of_several_mib_round_trips_and_only_its_two_parties_can_fetch_it() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let carol = app.peer("carol").await;
    let mut a = alice.socket(0).await;
    let mut b = bob.socket(0).await;
    let bytes: Vec<u8> = (0..3 * 1024 * 1024 + 123)
        .map(|_| rand::random::<u8>())
        .collect();

    let sealed = alice
        .chat
        .seal_file(
            bob.id(),
            &bytes,
            "holiday.bin",
            "application/octet-stream",
            "look",
        )
        .await
        .expect("seal file");
    let id = sealed.msg_id.to_b64();
    a.send(&ClientFrame::Send {
        envelope: sealed.envelope,
    })
    .await
    .expect("send");
    wait_for(&mut a, |e| match e {
        ServerEvent::Ack { msg_id, .. } if msg_id == id => Some(()),
        ServerEvent::Error { message, .. } => panic!("{message}"),
        _ => None,
    })
    .await;
    let (from, ts, envelope) = wait_for(&mut b, |e| match e {
        ServerEvent::Message {
            from, ts, envelope, ..
        } => Some((from, ts, envelope)),
        _ => None,
    })
    .await;
    let opened = bob.chat.open(from, ts, &envelope).await.expect("open");
    let Received::File { caption, file } = opened.content else {
        panic!("not a file message")
    };
    assert_eq!(caption, "look");
    assert_eq!(file.name, "holiday.bin");

    let fetched = bob.chat.fetch_file(&file).await.expect("fetch");
    assert_eq!(Sha256::digest(&fetched), Sha256::digest(&bytes));

    let file_id = file.file_id.to_b64();
    for (who, expected) in [(&carol, StatusCode::NOT_FOUND), (&alice, StatusCode::OK)] {
        let token = who.chat.api.access_token().await.expect("token");
        let status = app
            .get_authed(&format!("/api/v1/files/{file_id}"), &token)
            .await
            .status();
        assert_eq!(status, expected);
    }
    let token = carol.chat.api.access_token().await.expect("token");
    let missing = app
        .get_authed("/api/v1/files/AAAAAAAAAAAAAAAAAAAAAA", &token)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Deleting the message deletes the file.
    let tombstone = alice
        .chat
        .seal_delete(bob.id(), sealed.msg_id)
        .await
        .expect("tombstone");
    a.send(&ClientFrame::Delete {
        envelope: tombstone.envelope,
    })
    .await
    .expect("send");
    wait_for(&mut b, |e| {
        matches!(e, ServerEvent::Deleted { .. }).then_some(())
    })
    .await;
    let token = bob.chat.api.access_token().await.expect("token");
    let gone = app
        .get_authed(&format!("/api/v1/files/{file_id}"), &token)
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing_behind() {
    let app = spawn_app_with(|s| s.max_file_bytes = 1024 * 1024).await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;

    let result = alice
        .chat
        .api
        .upload(bob.id(), vec![7u8; 1024 * 1024 + 1])
        .await;
    match result {
        Err(securechat_client::ClientError::Http { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (413, "payload_too_large"));
        }
        other => panic!("expected 413, got {:?}", other.map(|_| ())),
    }
    // Streamed without a length: refused in flight.
    let token = alice.chat.api.access_token().await.expect("token");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![1u8; 64 * 1024])).collect();
    let streamed = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/files?to={}", bob.id())))
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("request");
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let files = app.dir.path().join("files");
    let leftovers: Vec<_> = std::fs::read_dir(&files)
        .expect("files dir")
        .chain(std::fs::read_dir(files.join("tmp")).expect("tmp dir"))
        .flatten()
        .filter(|e| e.file_name() != "tmp")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let ok = alice
        .chat
        .api
        .upload(bob.id(), vec![7u8; 1000])
        .await
        .expect("small upload");
    assert_eq!(ok.size, 1000);
    let unknown = alice
        .chat
        .api
        .upload(securechat_proto::ids::UserId::generate(), vec![1])
        .await;
    assert!(matches!(
        unknown,
        Err(securechat_client::ClientError::Http { status: 422, .. })
    ));
}

/// With one upload allowed at a time, uploads started together wait their turn: every one is
/// stored whole, none is refused.
#[tokio::test]
async fn uploads_beyond_the_concurrency_limit_wait_their_turn() {
    let app = spawn_app_with(|s| s.upload_concurrency = 1).await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let bodies: Vec<Vec<u8>> = (0..6u8)
        .map(|i| vec![i; 256 * 1024 + usize::from(i)])
        .collect();
    let uploads = bodies
        .iter()
        .map(|body| alice.chat.api.upload(bob.id(), body.clone()));
    let stored = futures_util::future::join_all(uploads).await;
    for (body, result) in bodies.iter().zip(stored) {
        let uploaded = result.expect("every upload is stored");
        assert_eq!(uploaded.size, body.len() as u64);
        let fetched = alice
            .chat
            .api
            .download(&uploaded.file_id)
            .await
            .expect("download");
        assert_eq!(&fetched, body);
    }
}

/// A download is never rendered by the browser: it is an attachment, and even if opened it
/// runs sandboxed with nothing allowed (a recipient's browser must not run what a sender
/// uploaded under the app's origin).
#[tokio::test]
async fn a_download_is_an_attachment_under_a_sandbox_policy() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let uploaded = alice
        .chat
        .api
        .upload(bob.id(), html.clone())
        .await
        .expect("upload");
    let token = bob.chat.api.access_token().await.expect("token");
    let response = app
        .get_authed(&format!("/api/v1/files/{}", uploaded.file_id), &token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/octet-stream");
    assert!(
        header("content-disposition").starts_with("attachment"),
        "content-disposition: {:?}",
        header("content-disposition")
    );
    let csp = header("content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"sandbox"), "csp: {csp:?}");
    assert!(directives.contains(&"default-src 'none'"), "csp: {csp:?}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(response.bytes().await.expect("body").to_vec(), html);
}
