//! The signed header bytes (`h`, decoded): the strict, canonical parser. Whatever it accepts
//! must serialise back to exactly the same bytes, or two parsers could read one signed header
//! differently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat_crypto::envelope::Header;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = Header::parse(data) else {
        return;
    };
    assert_eq!(header.to_bytes(), data, "an accepted header is canonical");
    assert_eq!(Header::parse(&header.to_bytes()).ok(), Some(header));
});
