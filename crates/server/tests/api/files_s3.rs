//! Files on an S3-compatible bucket (a real moto server on loopback): the same API as on the
//! local folder, with the objects checked in the bucket itself.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use securechat_proto::ws::{ClientFrame, ServerEvent};
use securechat_server::blobs::{BlobError, Blobs};
use securechat_server::Settings;

use crate::helpers::{spawn_with_blobs, wait_for, Data, Peer, TestApp};
use crate::moto::Moto;
use securechat_store_tests::services::free_port;

const PREFIX: &str = "cluster/files";

/// A server whose files go to a fresh bucket on `moto`.
async fn spawn_on_bucket(
    moto: &Moto,
    bucket: &str,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    moto.create_bucket(bucket).await;
    let blobs = Blobs::s3(&moto.options(bucket, PREFIX))
        .await
        .expect("the bucket answers");
    spawn_with_blobs(Data::new().await, blobs, configure).await
}

/// Uploads `pieces` as a streamed body without a length; the response.
async fn upload_streamed(
    app: &TestApp,
    from: &Peer,
    to: &Peer,
    pieces: Vec<Vec<u8>>,
) -> reqwest::Response {
    let token = from.chat.api.access_token().await.expect("token");
    let body = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1/files?to={}", to.id())))
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload request")
}

/// Downloads a file as `who`, hashing it as it streams in: (status, size, SHA-256).
async fn download_hashed(app: &TestApp, who: &Peer, file_id: &str) -> (StatusCode, u64, Vec<u8>) {
    let token = who.chat.api.access_token().await.expect("token");
    let response = app
        .get_authed(&format!("/api/v1/files/{file_id}"), &token)
        .await;
    let status = response.status();
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.expect("body piece");
        size += piece.len() as u64;
        hash.update(&piece);
    }
    (status, size, hash.finalize().to_vec())
}

/// Polls until the bucket holds no object (deletions run in the background), 10 s at most.
async fn wait_until_empty(moto: &Moto, bucket: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = moto.keys(bucket).await;
        if keys.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "objects left: {keys:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_file_of_many_mib_streams_through_the_bucket_and_survives_a_restart() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let bucket = "round-trip";
    let app = spawn_on_bucket(&moto, bucket, |_| {}).await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let carol = app.peer("carol").await;
    // 16 MiB and a bit in 64 KiB pieces: four parts of a multipart upload.
    let pieces: Vec<Vec<u8>> = (0..257)
        .map(|_| (0..64 * 1024).map(|_| rand::random::<u8>()).collect())
        .collect();
    let size: u64 = pieces.iter().map(|p| p.len() as u64).sum();
    let mut hash = Sha256::new();
    pieces.iter().for_each(|p| hash.update(p));
    let expected = hash.finalize().to_vec();

    let started = Instant::now();
    let response = upload_streamed(&app, &alice, &bob, pieces).await;
    let upload_time = started.elapsed();
    assert_eq!(response.status(), StatusCode::CREATED);
    let uploaded: serde_json::Value = response.json().await.expect("json");
    assert_eq!(uploaded["size"], size);
    let file_id = uploaded["file_id"].as_str().expect("file id").to_owned();

    let keys = moto.keys(bucket).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("{PREFIX}/")), "{keys:?}");
    assert!(moto.pending_uploads(bucket).await.is_empty());

    let started = Instant::now();
    let (status, got_size, got_hash) = download_hashed(&app, &bob, &file_id).await;
    let download_time = started.elapsed();
    assert_eq!((status, got_size), (StatusCode::OK, size));
    assert_eq!(got_hash, expected, "the download is byte-identical");
    eprintln!(
        "S3 (moto): {:.1} MiB uploaded in {upload_time:.2?}, downloaded in {download_time:.2?}",
        size as f64 / (1024.0 * 1024.0)
    );

    // Only its two parties: the third user gets the same 404 as for a missing file.
    assert_eq!(
        download_hashed(&app, &carol, &file_id).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download_hashed(&app, &alice, &file_id).await.0,
        StatusCode::OK
    );

    // A restarted server (same database, a new client of the same bucket) still serves it.
    let data = app.stop().await;
    let blobs = Blobs::s3(&moto.options(bucket, PREFIX))
        .await
        .expect("the bucket answers");
    let app = spawn_with_blobs(data, blobs, |_| {}).await;
    let mut bob = bob;
    bob.log_in_to(&app).await;
    let (status, got_size, got_hash) = download_hashed(&app, &bob, &file_id).await;
    assert_eq!((status, got_size), (StatusCode::OK, size));
    assert_eq!(got_hash, expected);

    // An object missing from the bucket (deleted behind the server's back) is a 404 too.
    let key = &moto.keys(bucket).await[0];
    let deleted = reqwest::Client::new()
        .delete(format!("{}/{bucket}/{key}", moto.endpoint))
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success());
    assert_eq!(
        download_hashed(&app, &bob, &file_id).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_upload_over_the_limit_leaves_nothing_in_the_bucket() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let bucket = "too-large";
    let app = spawn_on_bucket(&moto, bucket, |s| s.max_file_bytes = 8 * 1024 * 1024).await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;

    // Declared too large: refused before a byte is stored.
    let declared = alice
        .chat
        .api
        .upload(bob.id(), vec![7u8; 8 * 1024 * 1024 + 1])
        .await;
    assert!(
        matches!(
            declared,
            Err(securechat_client::ClientError::Http { status: 413, .. })
        ),
        "{:?}",
        declared.map(|_| ())
    );
    // Streamed without a length: refused in flight, after parts reached the bucket; the
    // multipart upload is aborted, so neither an object nor an upload remains.
    let pieces: Vec<Vec<u8>> = (0..12 * 16).map(|_| vec![1u8; 64 * 1024]).collect();
    let streamed = upload_streamed(&app, &alice, &bob, pieces).await;
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(moto.keys(bucket).await.is_empty());
    assert!(moto.pending_uploads(bucket).await.is_empty());

    let ok = alice
        .chat
        .api
        .upload(bob.id(), vec![7u8; 1000])
        .await
        .expect("a small upload");
    assert_eq!(ok.size, 1000);
    assert_eq!(moto.keys(bucket).await.len(), 1);
}

#[tokio::test]
async fn deleting_the_message_or_the_sweep_removes_the_object() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let bucket = "removals";
    let app = spawn_on_bucket(&moto, bucket, |s| {
        s.unreferenced_file_ttl = Duration::ZERO;
    })
    .await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    let mut b = bob.socket(0).await;

    // A file message, then its deletion.
    let bytes: Vec<u8> = (0..6 * 1024 * 1024).map(|_| rand::random::<u8>()).collect();
    let sealed = alice
        .chat
        .seal_file(bob.id(), &bytes, "f.bin", "application/octet-stream", "")
        .await
        .expect("seal file");
    let msg = sealed.msg_id.to_b64();
    a.send(&ClientFrame::Send {
        envelope: sealed.envelope,
    })
    .await
    .expect("send");
    wait_for(&mut a, |e| match e {
        ServerEvent::Ack { msg_id, .. } if msg_id == msg => Some(()),
        ServerEvent::Error { message, .. } => panic!("{message}"),
        _ => None,
    })
    .await;
    assert_eq!(moto.keys(bucket).await.len(), 1);
    let (from, ts, envelope) = wait_for(&mut b, |e| match e {
        ServerEvent::Message {
            from, ts, envelope, ..
        } => Some((from, ts, envelope)),
        _ => None,
    })
    .await;
    let opened = bob.chat.open(from, ts, &envelope).await.expect("open");
    let securechat_client::chat::Received::File { file, .. } = opened.content else {
        panic!("not a file message")
    };
    let fetched = bob.chat.fetch_file(&file).await.expect("fetch");
    assert_eq!(Sha256::digest(&fetched), Sha256::digest(&bytes));
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
    wait_until_empty(&moto, bucket).await;
    let file_id = file.file_id.to_b64();
    assert_eq!(
        download_hashed(&app, &bob, &file_id).await.0,
        StatusCode::NOT_FOUND
    );

    // A file no message took: the sweep deletes its record and its object.
    let orphan = alice
        .chat
        .api
        .upload(bob.id(), vec![3u8; 4096])
        .await
        .expect("upload");
    assert_eq!(moto.keys(bucket).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    securechat_server::jobs::sweep(&app.state).await;
    assert!(moto.keys(bucket).await.is_empty());
    assert_eq!(
        download_hashed(&app, &alice, &orphan.file_id).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_unreachable_bucket_is_refused_at_start() {
    // Nothing listens on the endpoint: refused quickly, naming the bucket.
    let closed = format!("http://127.0.0.1:{}", free_port([127, 0, 0, 1]).port());
    let options = securechat_server::blobs::S3Options::new(
        "s3://nowhere/files",
        Some(closed),
        "us-east-1".to_owned(),
        true,
        securechat_server::blobs::S3Credentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: "testing-secret".to_owned(),
            session_token: None,
        },
    )
    .expect("valid options");
    let started = Instant::now();
    let refused = Blobs::s3(&options).await;
    match refused {
        Err(e @ BlobError::Unreachable { .. }) => {
            assert!(e.to_string().contains("s3://nowhere/files"), "{e}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // The server answers but the bucket does not exist.
    let Some(moto) = Moto::start().await else {
        return;
    };
    let missing = Blobs::s3(&moto.options("never-created", "")).await;
    assert!(
        matches!(missing, Err(BlobError::Unreachable { .. })),
        "{missing:?}"
    );
    moto.create_bucket("now-created").await;
    Blobs::s3(&moto.options("now-created", ""))
        .await
        .expect("an existing bucket is accepted");
}
