//! Request paths and profile keys: matching never panics, and an accepted
//! key is a lowercase-normalizable GUID.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uploadurl_server::router::Route::UploadUrl { id }) =
        uploadurl_server::router::match_path(path)
    {
        if let Some(guid) = uploadurl_server::profiles::parse_guid(&id) {
            assert_eq!(guid.to_string(), id.to_ascii_lowercase());
        }
    }
});
