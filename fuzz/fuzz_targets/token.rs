//! Token parsing and validation: any input is rejected or accepted, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uploadurl_server::token::{development_key, mint, TokenPolicy, TokenRequest};

const SECRET: &[u8] = b"fuzzing key of thirty-two bytes!";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = TokenPolicy {
        keys: Some(vec![development_key(SECRET).unwrap()]),
        accept_application_permission: data.first().is_some_and(|b| b & 1 == 1),
    };
    let _ = policy.check(text, 1_800_000_000);
    // The same input as the payload of a validly signed token reaches the
    // claim checks.
    if let Ok(token) = mint(
        SECRET,
        &TokenRequest {
            audience: text.to_string(),
            ..Default::default()
        },
        1_800_000_000,
    ) {
        let _ = policy.check(&token, 1_800_000_000);
    }
    let unverified = TokenPolicy {
        keys: None,
        accept_application_permission: false,
    };
    let _ = unverified.check(text, 1_800_000_000);
});
