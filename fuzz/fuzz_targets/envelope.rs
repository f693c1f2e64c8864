//! Envelope JSON as the server receives it (REST and WebSocket): the strict outer parser, the
//! routing header the server reads, and the signature check it runs next.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat_crypto::envelope::{
    envelope_from_json, envelope_to_json, parse_header, parse_header_from, verify_signature,
    MAX_HEADER_BYTES, MAX_WRAPS,
};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = envelope_from_json(data) else {
        return;
    };
    // What we write out, we read back as the same envelope.
    let again = envelope_from_json(envelope_to_json(&envelope).as_bytes());
    assert_eq!(
        again.ok().as_ref(),
        Some(&envelope),
        "envelope JSON round trip"
    );

    let Ok(routing) = parse_header(&envelope) else {
        return;
    };
    assert!(routing.header_len <= MAX_HEADER_BYTES);
    assert!(!routing.recipients.is_empty() && routing.recipients.len() <= MAX_WRAPS);
    // The server's fast path (sender key already known) reads the same header.
    let known = parse_header_from(&envelope, &routing.sender_ik);
    assert_eq!(
        known.ok().as_ref(),
        Some(&routing),
        "parse_header_from agrees"
    );
    let _ = verify_signature(&envelope, &routing.sender_ik);
});
