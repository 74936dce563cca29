//! A `Range` header against a file size (the first 8 bytes): an answered range lies
//! inside the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap()) % (1 << 40);
    let Ok(text) = std::str::from_utf8(&data[8..]) else { return };
    if let Ok(Some((first, last))) = demoreel::api::parse_range(text, size) {
        assert!(first <= last && last < size, "{text:?} of {size}");
    }
});
