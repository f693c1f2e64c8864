//! Client-side cost of the protocol: sealing and opening a text message, and the server's
//! routing-header parse.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::OsRng;

use securechat_crypto::binding::publish_key;
use securechat_crypto::binding::verify_published_key;
use securechat_crypto::envelope::{
    open, parse_header, parse_header_from, seal, Content, Delivery, OutgoingMessage, Receiver,
    RecipientKey, Sender,
};
use securechat_crypto::identity::{EncryptionKeyPair, IdentityKeyPair};
use securechat_crypto::ids::ConvId;
use securechat_proto::ids::UserId;

fn envelope(c: &mut Criterion) {
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let (a_ik, b_ik) = (
        IdentityKeyPair::generate(&mut OsRng),
        IdentityKeyPair::generate(&mut OsRng),
    );
    let (a_ek, b_ek) = (
        EncryptionKeyPair::generate(&mut OsRng),
        EncryptionKeyPair::generate(&mut OsRng),
    );
    let published = publish_key(&b_ik, &bob, &b_ek, 1);
    let verified = verify_published_key(&b_ik.public(), &bob, &published).expect("binding");
    let recipients = [RecipientKey::verified(bob, &verified)];
    let own = [a_ek.public()];
    let conv = ConvId::direct(&alice, &bob);
    let content = Content::Text {
        body: "hello bob, how are you today?".to_owned(),
    };
    let sender = Sender {
        user_id: alice,
        identity: &a_ik,
        own_keys: &own,
    };
    let message = OutgoingMessage {
        msg_id: None,
        conv_id: conv,
        sender_ctr: 1,
        sent_at_ms: 1,
        expires_in_ms: None,
        hidden: false,
        content: &content,
        recipients: &recipients,
    };
    c.bench_function("seal text (2 wraps + sign)", |b| {
        b.iter(|| seal(&mut OsRng, &sender, &message).expect("seal"));
    });
    let sealed = seal(&mut OsRng, &sender, &message).expect("seal");
    let keys = [EncryptionKeyPair::from_secret_bytes(&b_ek.secret_bytes())];
    let a_pub = a_ik.public();
    c.bench_function("open text (verify + unwrap + decrypt)", |b| {
        b.iter(|| {
            open(
                &sealed.envelope,
                &Receiver {
                    user_id: bob,
                    keys: &keys,
                },
                &Delivery {
                    sender: alice,
                    conv_id: conv,
                    server_received_at_ms: 1,
                },
                1,
                |_| Some(a_pub),
                |_| false,
            )
            .expect("open")
        });
    });
    c.bench_function("parse routing header", |b| {
        b.iter(|| parse_header(&sealed.envelope).expect("header"));
    });
    c.bench_function("parse routing header, registered key known (server)", |b| {
        b.iter(|| parse_header_from(&sealed.envelope, &a_pub).expect("header"));
    });
}

criterion_group!(benches, envelope);
criterion_main!(benches);
