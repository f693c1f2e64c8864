//! WebSocket client frames as the server reads them: a UTF-8 text frame parsed as a
//! `ClientFrame`, then, for `send` and `delete`, the envelope's routing header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat_crypto::envelope::parse_header;
use securechat_proto::ws::ClientFrame;

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 (the server's WebSocket layer refuses anything else).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    // The Debug form (logged) does not depend on the token: it never shows it.
    if let ClientFrame::Auth {
        since, protocol, ..
    } = &frame
    {
        let blank = ClientFrame::Auth {
            token: String::new(),
            since: *since,
            protocol: *protocol,
        };
        assert_eq!(
            format!("{frame:?}"),
            format!("{blank:?}"),
            "Debug shows the token"
        );
    }
    // A frame the server accepts is one a client can write.
    let written = serde_json::to_string(&frame).expect("frames serialise");
    let reread: ClientFrame = serde_json::from_str(&written).expect("written frames parse");
    assert_eq!(reread, frame, "frame round trip");
    match &frame {
        ClientFrame::Send { envelope } | ClientFrame::Delete { envelope } => {
            let _ = parse_header(envelope);
        }
        ClientFrame::Auth { .. } | ClientFrame::Read { .. } | ClientFrame::Ping => {}
    }
});
