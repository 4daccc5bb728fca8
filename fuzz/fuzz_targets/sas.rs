//! SAS signing and URL building: any key and container give a URL whose
//! query has the documented parameters in order, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uploadurl_server::sas::{Container, Signer};

fuzz_target!(|data: &[u8]| {
    let (key, rest) = data.split_at(data.len().min(64));
    let name = String::from_utf8_lossy(rest);
    let seconds = i64::from(u32::from_le_bytes([
        key.first().copied().unwrap_or(0),
        key.get(1).copied().unwrap_or(0),
        key.get(2).copied().unwrap_or(0),
        key.get(3).copied().unwrap_or(0),
    ]));
    let Some(issued_at) = chrono::DateTime::from_timestamp(seconds, 0) else {
        return;
    };
    let container = Container::new("https://acct.blob.core.windows.net", "acct", &name);
    let url = container.upload_url(&Signer::new(key), issued_at);
    let query = url.rsplit_once('?').unwrap().1;
    let names: Vec<&str> = query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["sv", "sr", "si", "sig", "se", "sp"]);
});
