//! List cursors and signed-URL signatures from a client: decoding never panics, and no
//! text but the signature itself verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn signer() -> &'static demoreel::secrets::UrlSigner {
    static SIGNER: OnceLock<demoreel::secrets::UrlSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("demoreel-fuzz-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        demoreel::secrets::UrlSigner::load_or_create(&dir.join("url.key")).unwrap()
    })
}

fuzz_target!(|text: &str| {
    if let Some(seq) = demoreel::db::decode_cursor(text) {
        assert_eq!(demoreel::db::decode_cursor(&demoreel::db::encode_cursor(seq)), Some(seq));
    }
    let signature = signer().sign("artifact", 1_000);
    assert_eq!(signer().verify("artifact", 1_000, text, 0), text.eq_ignore_ascii_case(&signature));
});
