//! Unit tests of the envelope: round trips and every rejection of the verification procedure.

use rand::rngs::OsRng;
use securechat_proto::b64;
use securechat_proto::ids::UserId;

use super::content::{self, InnerIds};
use super::seal::content_key;
use super::*;
use crate::aead;
use crate::file_stream::encrypt_file_with_chunk_size;
use crate::identity::{EncryptionKeyPair, IdentityKey, IdentityKeyPair};
use crate::ids::{ConvId, MsgId};
use crate::wrap::{wrap_content_key, ContentKey, WrapContext};

struct User {
    id: UserId,
    ik: IdentityKeyPair,
    ek: EncryptionKeyPair,
}

fn user() -> User {
    User {
        id: UserId::generate(),
        ik: IdentityKeyPair::generate(&mut OsRng),
        ek: EncryptionKeyPair::generate(&mut OsRng),
    }
}

const RECEIVED_AT: i64 = 1_732_530_000_500;
const NOW: i64 = 1_732_530_001_000;

fn text(body: &str) -> Content {
    Content::Text {
        body: body.to_owned(),
    }
}

fn seal_to(
    from: &User,
    to: &[&User],
    content: &Content,
    expires_in_ms: Option<i64>,
) -> SealedEnvelope {
    let conv_id = if to.len() == 1 {
        ConvId::direct(&from.id, &to[0].id)
    } else {
        ConvId(uuid::Uuid::from_bytes([9u8; 16]))
    };
    let recipients: Vec<RecipientKey> = to
        .iter()
        .map(|user| RecipientKey {
            user_id: user.id,
            key: user.ek.public(),
        })
        .collect();
    seal(
        &mut OsRng,
        &Sender {
            user_id: from.id,
            identity: &from.ik,
            own_keys: &[from.ek.public()],
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id,
            sender_ctr: 7,
            sent_at_ms: 1_732_530_000_000,
            expires_in_ms,
            hidden: false,
            content,
            recipients: &recipients,
        },
    )
    .unwrap()
}

/// Opens `envelope` as `me`, with `pins` pinned, as delivered by `from` in `conv_id`.
fn open_as(
    envelope: &Envelope,
    me: &User,
    from: &UserId,
    conv_id: ConvId,
    pins: &[(&UserId, IdentityKey)],
    seen: &[MsgId],
    now: i64,
) -> Result<OpenedMessage, CryptoError> {
    open(
        envelope,
        &Receiver {
            user_id: me.id,
            keys: std::slice::from_ref(&me.ek),
        },
        &Delivery {
            sender: *from,
            conv_id,
            server_received_at_ms: RECEIVED_AT,
        },
        now,
        |user| {
            pins.iter()
                .find(|(pinned, _)| *pinned == user)
                .map(|(_, key)| *key)
        },
        |id| seen.contains(id),
    )
}

/// The header's conversation, or the nil UUID for envelopes too broken to say.
fn conv_of(envelope: &Envelope) -> ConvId {
    b64::decode(&envelope.h)
        .ok()
        .and_then(|bytes| Header::parse(&bytes).ok())
        .map_or(ConvId(uuid::Uuid::nil()), |header| header.conv_id)
}

/// Opens as `me` delivered normally by the header's sender with both identities pinned.
fn open_normally(
    envelope: &Envelope,
    me: &User,
    from: &User,
) -> Result<OpenedMessage, CryptoError> {
    open_as(
        envelope,
        me,
        &from.id,
        conv_of(envelope),
        &[(&from.id, from.ik.public()), (&me.id, me.ik.public())],
        &[],
        NOW,
    )
}

fn err(result: Result<OpenedMessage, CryptoError>) -> CryptoError {
    match result {
        Ok(_) => panic!("expected a rejection"),
        Err(error) => error,
    }
}

fn body(opened: &OpenedMessage) -> &str {
    match &opened.content {
        Content::Text { body } => body,
        _ => panic!("not a text message"),
    }
}

/// Replaces the header (via `edit`) and signs the result with `signer`, keeping `ct`.
fn resign(
    envelope: &Envelope,
    signer: &IdentityKeyPair,
    edit: impl FnOnce(&mut Header),
) -> Envelope {
    let mut header = Header::parse(&b64::decode(&envelope.h).unwrap()).unwrap();
    edit(&mut header);
    let header_bytes = header.to_bytes();
    let ct = b64::decode(&envelope.ct).unwrap();
    Envelope {
        v: 1,
        h: b64::encode(&header_bytes),
        ct: envelope.ct.clone(),
        sig: b64::encode(signer.sign(&signature_message(&header_bytes, &ct))),
    }
}

/// Builds an envelope from scratch, with full control over the inner ids and the signer:
/// what a malicious sender or server can produce.
fn forge(
    signer: &IdentityKeyPair,
    header_sender: &User,
    wrap_to: &[&User],
    conv_id: ConvId,
    inner: InnerIds,
    content: &Content,
    files: Option<Vec<crate::ids::FileId>>,
) -> Envelope {
    let msg_id = MsgId::generate(&mut OsRng);
    let cek = ContentKey::generate(&mut OsRng);
    let nonce = [3u8; 12];
    let wraps = wrap_to
        .iter()
        .map(|user| {
            let key_id = user.ek.public().key_id();
            let context = WrapContext {
                msg_id: &msg_id,
                conv_id: &conv_id,
                sender: &header_sender.id,
                recipient: &user.id,
                key_id: &key_id,
            };
            Wrap {
                user_id: user.id,
                key_id,
                wrapped: wrap_content_key(&mut OsRng, &user.ek.public(), &context, &cek).unwrap(),
            }
        })
        .collect();
    let header = Header {
        msg_id,
        conv_id,
        sender: header_sender.id,
        sender_ik: header_sender.ik.public(),
        sender_ctr: 1,
        sent_at_ms: 1,
        expires_in_ms: None,
        kind: content.kind(),
        reference: content.reference(),
        files: files.unwrap_or_else(|| content.file_ids()),
        nonce,
        wraps,
    };
    let header_bytes = header.to_bytes();
    let inner = InnerIds {
        msg_id: if inner.msg_id == MsgId([0; 16]) {
            msg_id
        } else {
            inner.msg_id
        },
        ..inner
    };
    let plaintext = content::encode(content, false, &inner).unwrap();
    let k = content_key(&cek, &msg_id).unwrap();
    let ct = aead::seal(&k, &nonce, &header_bytes, &plaintext).unwrap();
    Envelope {
        v: 1,
        h: b64::encode(&header_bytes),
        ct: b64::encode(&ct),
        sig: b64::encode(signer.sign(&signature_message(&header_bytes, &ct))),
    }
}

// --- round trips ------------------------------------------------------------------------

#[test]
fn recipient_and_sender_both_open_a_message() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("hello bob"), None);

    let opened = open_normally(&sealed.envelope, &bob, &alice).unwrap();
    assert_eq!(body(&opened), "hello bob");
    assert_eq!(opened.header.msg_id, sealed.msg_id);
    assert_eq!(opened.header.sender, alice.id);
    assert_eq!(opened.header.sender_ctr, 7);
    assert_eq!(opened.header.kind, Kind::Msg);
    assert!(!opened.hidden);
    assert_eq!(opened.expires_at_ms, None);

    // The sender reads its own copy (history on a new browser).
    let own = open_normally(&sealed.envelope, &alice, &alice).unwrap();
    assert_eq!(body(&own), "hello bob");

    // JSON round trip of the envelope.
    let json = envelope_to_json(&sealed.envelope);
    assert!(json.starts_with("{\"v\":1,\"h\":\""));
    assert_eq!(
        envelope_from_json(json.as_bytes()).unwrap(),
        sealed.envelope
    );
}

#[test]
fn plaintext_is_padded_to_256_bytes_and_size_limited() {
    let (alice, bob) = (user(), user());
    for len in [0usize, 1, 100, 255, 256, 1000, 5000] {
        let sealed = seal_to(&alice, &[&bob], &text(&"x".repeat(len)), None);
        let ct = b64::decode(&sealed.envelope.ct).unwrap();
        assert_eq!((ct.len() - 16) % PAD_BLOCK, 0, "{len}");
        assert_eq!(
            body(&open_normally(&sealed.envelope, &bob, &alice).unwrap()).len(),
            len
        );
    }
    let too_big = text(&"x".repeat(MAX_PLAINTEXT_BYTES));
    let result = seal(
        &mut OsRng,
        &Sender {
            user_id: alice.id,
            identity: &alice.ik,
            own_keys: &[alice.ek.public()],
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id: ConvId::direct(&alice.id, &bob.id),
            sender_ctr: 1,
            sent_at_ms: 1,
            expires_in_ms: None,
            hidden: false,
            content: &too_big,
            recipients: &[],
        },
    );
    assert!(matches!(
        result,
        Err(CryptoError::TooLarge {
            what: "message plaintext",
            ..
        })
    ));
}

#[test]
fn hidden_flag_and_files_and_receipts_travel_inside() {
    let (alice, bob) = (user(), user());
    let data = b"file contents that span several chunks of 64 bytes each........".repeat(3);
    let (ct, descriptor) =
        encrypt_file_with_chunk_size(&mut OsRng, &data, "text/plain", "notes.txt", 64).unwrap();
    let file_id = descriptor.file_id;
    let content = Content::File {
        body: "see attached".into(),
        file: descriptor,
    };
    let recipients = [RecipientKey {
        user_id: bob.id,
        key: bob.ek.public(),
    }];
    let sealed = seal(
        &mut OsRng,
        &Sender {
            user_id: alice.id,
            identity: &alice.ik,
            own_keys: &[alice.ek.public()],
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id: ConvId::direct(&alice.id, &bob.id),
            sender_ctr: 2,
            sent_at_ms: 5,
            expires_in_ms: None,
            hidden: true,
            content: &content,
            recipients: &recipients,
        },
    )
    .unwrap();
    // `hidden` is not visible in the header.
    let header_text = String::from_utf8(b64::decode(&sealed.envelope.h).unwrap()).unwrap();
    assert!(!header_text.contains("hidden"));

    let opened = open_normally(&sealed.envelope, &bob, &alice).unwrap();
    assert!(opened.hidden);
    assert_eq!(opened.header.kind, Kind::File);
    match &opened.content {
        Content::File { body, file } => {
            assert_eq!(body, "see attached");
            assert_eq!(file.file_id, file_id);
            assert_eq!(file.name, "notes.txt");
            let plain = crate::file_stream::decrypt_file(file, &ct).unwrap();
            assert_eq!(plain.as_slice(), data.as_slice());
        }
        _ => panic!("not a file"),
    }

    let receipt = seal_to(
        &bob,
        &[&alice],
        &Content::Receipt {
            target: sealed.msg_id,
        },
        None,
    );
    let opened = open_normally(&receipt.envelope, &alice, &bob).unwrap();
    assert_eq!(opened.header.kind, Kind::Receipt);
    assert_eq!(opened.header.reference, Some(sealed.msg_id));
}

#[test]
fn a_retired_key_still_opens_old_messages_and_a_missing_key_is_reported() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("old"), None);
    let new_key = EncryptionKeyPair::generate(&mut OsRng);
    let keys = [
        new_key,
        EncryptionKeyPair::from_secret_bytes(&bob.ek.secret_bytes()),
    ];
    let pins = |user: &UserId| (*user == alice.id).then(|| alice.ik.public());
    let delivery = Delivery {
        sender: alice.id,
        conv_id: conv_of(&sealed.envelope),
        server_received_at_ms: RECEIVED_AT,
    };
    let receiver = Receiver {
        user_id: bob.id,
        keys: &keys,
    };
    let opened = open(&sealed.envelope, &receiver, &delivery, NOW, pins, |_| false).unwrap();
    assert_eq!(body(&opened), "old");

    let receiver = Receiver {
        user_id: bob.id,
        keys: &keys[..1],
    };
    assert_eq!(
        err(open(
            &sealed.envelope,
            &receiver,
            &delivery,
            NOW,
            pins,
            |_| false
        )),
        CryptoError::NoMatchingKey
    );
}

// --- rejections, in the order of the procedure -------------------------------------------

#[test]
fn step1_malformed_envelopes_are_rejected() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("hi"), None);
    let env = &sealed.envelope;

    let mut v2 = env.clone();
    v2.v = 2;
    assert!(matches!(
        err(open_normally(&v2, &bob, &alice)),
        CryptoError::UnsupportedVersion { .. }
    ));

    let mut padded = env.clone();
    padded.sig.push('=');
    assert!(matches!(
        err(open_normally(&padded, &bob, &alice)),
        CryptoError::Encoding { field: "sig", .. }
    ));

    // A header that is valid JSON but not canonical (a space) is refused, even re-signed.
    let header_bytes = b64::decode(&env.h).unwrap();
    let mut spaced = b"{ ".to_vec();
    spaced.extend_from_slice(&header_bytes[1..]);
    let ct = b64::decode(&env.ct).unwrap();
    let spaced_env = Envelope {
        v: 1,
        h: b64::encode(&spaced),
        ct: env.ct.clone(),
        sig: b64::encode(alice.ik.sign(&signature_message(&spaced, &ct))),
    };
    assert_eq!(
        err(open_normally(&spaced_env, &bob, &alice)),
        CryptoError::NonCanonicalHeader
    );

    // Unknown and duplicate members.
    let text_header = String::from_utf8(header_bytes.clone()).unwrap();
    for bad in [
        text_header.replacen("{\"v\":1,", "{\"v\":1,\"x\":1,", 1),
        text_header.replacen("{\"v\":1,", "{\"v\":1,\"v\":1,", 1),
        text_header.replacen(",\"ref\":null", "", 1),
        text_header.replacen("\"suite\":\"X25519", "\"suite\":\"P256", 1),
    ] {
        assert!(Header::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    // Upper-case ids are not canonical.
    let upper = text_header.replacen(
        &crate::ids::user_id_text(&alice.id),
        &crate::ids::user_id_text(&alice.id).to_uppercase(),
        1,
    );
    assert!(matches!(
        Header::parse(upper.as_bytes()),
        Err(CryptoError::InvalidField {
            field: "sender.user_id",
            ..
        })
    ));

    // Content ciphertext that cannot be a padded plaintext.
    let mut short = env.clone();
    short.ct = b64::encode([0u8; 100]);
    assert!(matches!(
        err(open_normally(&short, &bob, &alice)),
        CryptoError::InvalidField { field: "ct", .. }
    ));

    // Oversized fields are refused before decoding.
    let mut huge = env.clone();
    huge.h = "A".repeat(b64_len(MAX_HEADER_BYTES) + 4);
    assert!(matches!(
        err(open_normally(&huge, &bob, &alice)),
        CryptoError::TooLarge { what: "h", .. }
    ));
    let json = vec![b' '; MAX_ENVELOPE_JSON_BYTES + 1];
    assert!(matches!(
        envelope_from_json(&json),
        Err(CryptoError::TooLarge { .. })
    ));
    assert!(matches!(
        envelope_from_json(br#"{"v":1,"h":"","ct":"","sig":"","extra":1}"#),
        Err(CryptoError::Json { .. })
    ));
}

#[test]
fn step2_a_substituted_or_unknown_identity_key_is_rejected() {
    let (alice, bob, mallory) = (user(), user(), user());
    // Mallory (e.g. the server) writes as Alice with Mallory's own identity key.
    let forged = seal(
        &mut OsRng,
        &Sender {
            user_id: alice.id,
            identity: &mallory.ik,
            own_keys: &[mallory.ek.public()],
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id: ConvId::direct(&alice.id, &bob.id),
            sender_ctr: 1,
            sent_at_ms: 1,
            expires_in_ms: None,
            hidden: false,
            content: &text("trust me"),
            recipients: &[RecipientKey {
                user_id: bob.id,
                key: bob.ek.public(),
            }],
        },
    )
    .unwrap();
    assert_eq!(
        err(open_normally(&forged.envelope, &bob, &alice)),
        CryptoError::IdentityKeyChanged
    );
    // Nothing pinned for the sender yet: the caller must fetch and pin first.
    assert_eq!(
        err(open_as(
            &forged.envelope,
            &bob,
            &alice.id,
            conv_of(&forged.envelope),
            &[],
            &[],
            NOW
        )),
        CryptoError::UnknownSender
    );
}

#[test]
fn step3_tampered_header_ct_or_signature_is_rejected() {
    let (alice, bob, mallory) = (user(), user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("hi"), Some(60_000));
    let env = &sealed.envelope;

    // Tampered header: the server extends the self-destruct timer (kept canonical).
    let mut header = Header::parse(&b64::decode(&env.h).unwrap()).unwrap();
    header.expires_in_ms = Some(600_000_000);
    let tampered_header = Envelope {
        h: b64::encode(header.to_bytes()),
        ..env.clone()
    };
    assert_eq!(
        err(open_normally(&tampered_header, &bob, &alice)),
        CryptoError::BadSignature
    );

    // Tampered ciphertext.
    let mut ct = b64::decode(&env.ct).unwrap();
    ct[0] ^= 0x80;
    let tampered_ct = Envelope {
        ct: b64::encode(&ct),
        ..env.clone()
    };
    assert_eq!(
        err(open_normally(&tampered_ct, &bob, &alice)),
        CryptoError::BadSignature
    );

    // Wrong signature: Alice's signature over other bytes, and Mallory's over these.
    let other = seal_to(&alice, &[&bob], &text("other"), None);
    let swapped_sig = Envelope {
        sig: other.envelope.sig.clone(),
        ..env.clone()
    };
    assert_eq!(
        err(open_normally(&swapped_sig, &bob, &alice)),
        CryptoError::BadSignature
    );
    let by_mallory = resign(env, &mallory.ik, |_| {});
    assert_eq!(
        err(open_normally(&by_mallory, &bob, &alice)),
        CryptoError::BadSignature
    );

    // The AEAD still guards content a (malicious) sender signed after tampering.
    let resigned_ct = {
        let header_bytes = b64::decode(&env.h).unwrap();
        Envelope {
            v: 1,
            h: env.h.clone(),
            ct: b64::encode(&ct),
            sig: b64::encode(alice.ik.sign(&signature_message(&header_bytes, &ct))),
        }
    };
    assert_eq!(
        err(open_normally(&resigned_ct, &bob, &alice)),
        CryptoError::DecryptFailed
    );
}

#[test]
fn step3_a_forged_own_copy_is_rejected() {
    // Anyone can HPKE-wrap to Alice's public key; the server forges an "own copy" of a message
    // Alice never sent. Only the signature stops it.
    let (alice, bob, server) = (user(), user(), user());
    let conv_id = ConvId::direct(&alice.id, &bob.id);
    let forged = forge(
        &server.ik,
        &alice,
        &[&alice],
        conv_id,
        InnerIds {
            msg_id: MsgId([0; 16]),
            conv_id,
            sender: alice.id,
        },
        &text("I owe the server 1000 EUR"),
        None,
    );
    assert_eq!(
        err(open_normally(&forged, &alice, &alice)),
        CryptoError::BadSignature
    );
    // Nor can a wrap for Alice be appended to someone else's genuine message.
    let genuine = seal_to(&bob, &[&server], &text("to server"), None);
    let cek_wrap = forge(
        &server.ik,
        &bob,
        &[&alice],
        conv_id,
        InnerIds {
            msg_id: MsgId([0; 16]),
            conv_id,
            sender: bob.id,
        },
        &text("x"),
        None,
    );
    let extra = Header::parse(&b64::decode(&cek_wrap.h).unwrap())
        .unwrap()
        .wraps[0];
    let mut header = Header::parse(&b64::decode(&genuine.envelope.h).unwrap()).unwrap();
    header.wraps.push(extra);
    let appended = Envelope {
        h: b64::encode(header.to_bytes()),
        ..genuine.envelope.clone()
    };
    assert_eq!(
        err(open_as(
            &appended,
            &alice,
            &bob.id,
            header.conv_id,
            &[(&bob.id, bob.ik.public())],
            &[],
            NOW
        )),
        CryptoError::BadSignature
    );
}

#[test]
fn step4_reflected_misrouted_or_foreign_envelopes_are_rejected() {
    let (alice, bob, carol) = (user(), user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("for bob"), None);
    let env = &sealed.envelope;
    let conv = conv_of(env);
    let pins = [
        (&alice.id, alice.ik.public()),
        (&bob.id, bob.ik.public()),
        (&carol.id, carol.ik.public()),
    ];

    // The server claims another sender than the signed one.
    assert_eq!(
        err(open_as(env, &bob, &carol.id, conv, &pins, &[], NOW)),
        CryptoError::SenderMismatch
    );
    // Reflection: Alice's message served back to Alice as if Bob had sent it.
    assert_eq!(
        err(open_as(env, &alice, &bob.id, conv, &pins, &[], NOW)),
        CryptoError::SenderMismatch
    );
    // Wrong conversation: delivered into Alice–Carol.
    assert_eq!(
        err(open_as(
            env,
            &bob,
            &alice.id,
            ConvId::direct(&alice.id, &carol.id),
            &pins,
            &[],
            NOW
        )),
        CryptoError::ConversationMismatch
    );
    // Forwarded to someone who is not a recipient.
    assert_eq!(
        err(open_as(env, &carol, &alice.id, conv, &pins, &[], NOW)),
        CryptoError::NotARecipient
    );
}

#[test]
fn step5_a_replayed_msg_id_is_rejected() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("once"), None);
    let pins = [(&alice.id, alice.ik.public())];
    let conv = conv_of(&sealed.envelope);
    assert!(open_as(&sealed.envelope, &bob, &alice.id, conv, &pins, &[], NOW).is_ok());
    assert_eq!(
        err(open_as(
            &sealed.envelope,
            &bob,
            &alice.id,
            conv,
            &pins,
            &[sealed.msg_id],
            NOW
        )),
        CryptoError::Replay
    );
}

#[test]
fn step6_an_expired_message_is_rejected() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("burn"), Some(60_000));
    let pins = [(&alice.id, alice.ik.public())];
    let conv = conv_of(&sealed.envelope);
    let opened = open_as(
        &sealed.envelope,
        &bob,
        &alice.id,
        conv,
        &pins,
        &[],
        RECEIVED_AT + 60_000,
    )
    .unwrap();
    assert_eq!(opened.expires_at_ms, Some(RECEIVED_AT + 60_000));
    assert_eq!(
        err(open_as(
            &sealed.envelope,
            &bob,
            &alice.id,
            conv,
            &pins,
            &[],
            RECEIVED_AT + 60_001
        )),
        CryptoError::Expired
    );
}

#[test]
fn step6_a_later_receive_time_cannot_extend_the_expiry() {
    // The server's receive time is unsigned: one a day after the signed `sent_at` does not
    // move the self-destruct time past `sent_at + EXPIRY_SKEW_MS + expires_in_ms`.
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &text("burn"), Some(60_000));
    let sent_at = 1_732_530_000_000;
    let bound = sent_at + EXPIRY_SKEW_MS + 60_000;
    let open_received_at = |received_at: i64, now: i64| {
        open(
            &sealed.envelope,
            &Receiver {
                user_id: bob.id,
                keys: std::slice::from_ref(&bob.ek),
            },
            &Delivery {
                sender: alice.id,
                conv_id: conv_of(&sealed.envelope),
                server_received_at_ms: received_at,
            },
            now,
            |user| (*user == alice.id).then(|| alice.ik.public()),
            |_| false,
        )
    };
    let day_later = sent_at + 86_400_000;
    assert_eq!(
        err(open_received_at(day_later, bound + 1)),
        CryptoError::Expired
    );
    let opened = open_received_at(day_later, bound).unwrap();
    assert_eq!(opened.expires_at_ms, Some(bound));
    // Within the allowance the server's time counts, and an earlier one shortens the timer.
    let late = sent_at + 120_000;
    let opened = open_received_at(late, late + 60_000).unwrap();
    assert_eq!(opened.expires_at_ms, Some(late + 60_000));
    let early = sent_at - 1_000;
    assert_eq!(
        err(open_received_at(early, early + 60_001)),
        CryptoError::Expired
    );
}

#[test]
fn step8_inner_ids_must_equal_the_header() {
    let (alice, bob, carol) = (user(), user(), user());
    let conv_id = ConvId::direct(&alice.id, &bob.id);
    let pins = [(&alice.id, alice.ik.public())];
    // A (malicious or buggy) sender signs a header whose ids differ from the plaintext's:
    // e.g. surreptitious forwarding of content sealed for another conversation.
    let cases = [
        (
            InnerIds {
                msg_id: MsgId([5; 16]),
                conv_id,
                sender: alice.id,
            },
            "msg_id",
        ),
        (
            InnerIds {
                msg_id: MsgId([0; 16]),
                conv_id: ConvId::direct(&alice.id, &carol.id),
                sender: alice.id,
            },
            "conv_id",
        ),
        (
            InnerIds {
                msg_id: MsgId([0; 16]),
                conv_id,
                sender: carol.id,
            },
            "sender_user_id",
        ),
    ];
    for (inner, field) in cases {
        let env = forge(&alice.ik, &alice, &[&bob], conv_id, inner, &text("x"), None);
        assert_eq!(
            err(open_as(&env, &bob, &alice.id, conv_id, &pins, &[], NOW)),
            CryptoError::InnerMismatch { field }
        );
    }

    // A file message whose signed header lists another file than the plaintext carries (the
    // server would grant access to the wrong blob).
    let (_, descriptor) =
        encrypt_file_with_chunk_size(&mut OsRng, b"abc", "text/plain", "a.txt", 64).unwrap();
    let file = Content::File {
        body: String::new(),
        file: descriptor,
    };
    let inner = InnerIds {
        msg_id: MsgId([0; 16]),
        conv_id,
        sender: alice.id,
    };
    let other_file = vec![crate::ids::FileId([8; 16])];
    let env = forge(
        &alice.ik,
        &alice,
        &[&bob],
        conv_id,
        inner,
        &file,
        Some(other_file),
    );
    assert_eq!(
        err(open_as(&env, &bob, &alice.id, conv_id, &pins, &[], NOW)),
        CryptoError::InnerMismatch { field: "file_id" }
    );
}

#[test]
fn the_files_member_lists_exactly_the_file_of_a_file_message() {
    let (alice, bob) = (user(), user());
    let (_, descriptor) =
        encrypt_file_with_chunk_size(&mut OsRng, b"abc", "text/plain", "a.txt", 64).unwrap();
    let file_id = descriptor.file_id;
    let content = Content::File {
        body: String::new(),
        file: descriptor,
    };
    let sealed = seal_to(&alice, &[&bob], &content, None);
    let routing = parse_header(&sealed.envelope).unwrap();
    assert_eq!(routing.kind, Kind::File);
    assert_eq!(routing.files, vec![file_id]);

    let mut header = Header::parse(&b64::decode(&sealed.envelope.h).unwrap()).unwrap();
    header.files.clear();
    assert!(matches!(
        Header::parse(&header.to_bytes()),
        Err(CryptoError::InvalidField { field: "files", .. })
    ));
    header.files = vec![file_id, file_id];
    assert!(Header::parse(&header.to_bytes()).is_err());
    header.files = vec![file_id];
    header.kind = Kind::Msg;
    assert!(matches!(
        Header::parse(&header.to_bytes()),
        Err(CryptoError::InvalidField { field: "files", .. })
    ));
}

#[test]
fn a_known_registered_key_spares_only_its_own_revalidation() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(&alice, &[&bob], &Content::Text { body: "hi".into() }, None);
    let plain = parse_header(&sealed.envelope).unwrap();
    assert_eq!(
        parse_header_from(&sealed.envelope, &alice.ik.public()).unwrap(),
        plain
    );
    assert_eq!(
        parse_header_from(&sealed.envelope, &bob.ik.public()).unwrap(),
        plain,
        "another known key changes nothing"
    );
    // A header carrying a low-order key is refused, whatever key the caller knows.
    let text = String::from_utf8(b64::decode(&sealed.envelope.h).unwrap()).unwrap();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let bad = text.replace(
        &b64::encode(alice.ik.public().to_bytes()),
        &b64::encode(weak),
    );
    assert_ne!(bad, text);
    let mut envelope = sealed.envelope.clone();
    envelope.h = b64::encode(bad.as_bytes());
    for known in [alice.ik.public(), bob.ik.public()] {
        assert!(matches!(
            parse_header_from(&envelope, &known),
            Err(CryptoError::BadIdentityKey)
        ));
    }
}

// --- tombstones ----------------------------------------------------------------------------

#[test]
fn only_the_sender_of_a_message_can_delete_it() {
    let (alice, bob) = (user(), user());
    let original = seal_to(&alice, &[&bob], &text("regret"), None);
    let target = open_normally(&original.envelope, &bob, &alice)
        .unwrap()
        .meta();

    let by_alice = seal_to(
        &alice,
        &[&bob],
        &Content::Delete {
            target: original.msg_id,
        },
        None,
    );
    let tombstone = open_normally(&by_alice.envelope, &bob, &alice).unwrap();
    assert_eq!(tombstone.header.kind, Kind::Delete);
    assert_eq!(authorize_delete(&tombstone, &target), Ok(original.msg_id));
    let routing = parse_header(&by_alice.envelope).unwrap();
    assert_eq!(routing.authorizes_delete_of(&target), Ok(original.msg_id));

    // Bob (a participant, not the sender) tries to delete Alice's message.
    let by_bob = seal_to(
        &bob,
        &[&alice],
        &Content::Delete {
            target: original.msg_id,
        },
        None,
    );
    let tombstone = open_normally(&by_bob.envelope, &alice, &bob).unwrap();
    assert_eq!(
        authorize_delete(&tombstone, &target),
        Err(CryptoError::TombstoneNotBySender)
    );
    let routing = parse_header(&by_bob.envelope).unwrap();
    assert_eq!(
        routing.authorizes_delete_of(&target),
        Err(CryptoError::TombstoneNotBySender)
    );

    // A tombstone names exactly one message; a normal message is no tombstone.
    let other = seal_to(
        &alice,
        &[&bob],
        &Content::Delete {
            target: MsgId([1; 16]),
        },
        None,
    );
    let tombstone = open_normally(&other.envelope, &bob, &alice).unwrap();
    assert_eq!(
        authorize_delete(&tombstone, &target),
        Err(CryptoError::TombstoneTargetMismatch)
    );
    let plain = open_normally(&original.envelope, &bob, &alice).unwrap();
    assert_eq!(
        authorize_delete(&plain, &target),
        Err(CryptoError::NotATombstone)
    );
}

// --- server-side helpers -------------------------------------------------------------------

#[test]
fn routing_header_and_signature_check_for_the_server() {
    let (alice, bob, carol) = (user(), user(), user());
    let sealed = seal_to(&alice, &[&bob, &carol], &text("group"), Some(5_000));
    let routing = parse_header(&sealed.envelope).unwrap();
    assert_eq!(routing.msg_id, sealed.msg_id);
    assert_eq!(routing.sender, alice.id);
    assert_eq!(routing.sender_ik, alice.ik.public());
    assert_eq!(routing.recipients, vec![bob.id, carol.id, alice.id]);
    assert_eq!(routing.expires_in_ms, Some(5_000));
    assert_eq!(routing.kind, Kind::Msg);
    assert_eq!(routing.reference, None);

    assert_eq!(
        verify_signature(&sealed.envelope, &alice.ik.public()),
        Ok(())
    );
    assert_eq!(
        verify_signature(&sealed.envelope, &bob.ik.public()),
        Err(CryptoError::IdentityKeyChanged)
    );
    let forged = resign(&sealed.envelope, &bob.ik, |_| {});
    assert_eq!(
        verify_signature(&forged, &alice.ik.public()),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn the_header_round_trips_canonically() {
    let (alice, bob) = (user(), user());
    let sealed = seal_to(
        &alice,
        &[&bob],
        &Content::Delete {
            target: MsgId([2; 16]),
        },
        None,
    );
    let bytes = b64::decode(&sealed.envelope.h).unwrap();
    let header = Header::parse(&bytes).unwrap();
    assert_eq!(header.to_bytes(), bytes);
    assert_eq!(header.reference, Some(MsgId([2; 16])));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(&format!(
        "{{\"v\":1,\"suite\":\"{SUITE}\",\"msg_id\":\"{}\",\"conv_id\":\"{}\",",
        sealed.msg_id,
        ConvId::direct(&alice.id, &bob.id)
    )));
}
