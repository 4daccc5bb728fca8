//! criterion benchmarks of the per-request work of a 200: issuing a SAS URL
//! (string-to-sign, HMAC-SHA256, base64, percent-encoding) and checking a
//! token (JWT signature and claims). Run with `cargo bench --workspace`.

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use uploadurl_server::sas::{Container, Signer};
use uploadurl_server::token::{development_key, mint, TokenPolicy, TokenRequest};

fn sas(c: &mut Criterion) {
    // Azurite's well-known development key, decoded: 64 bytes, as a real
    // account key is.
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        uploadurl_server::config::DEVELOPMENT_ACCOUNT_KEY,
    )
    .unwrap();
    let signer = Signer::new(&key);
    let container = Container::new(
        "https://sdsstorage.blob.core.windows.net",
        "sdsstorage",
        "2f60e4c4-84cb-5683-b67c-f4ab60411e45",
    );
    let issued_at = Utc.with_ymd_and_hms(2026, 12, 4, 15, 58, 2).unwrap();
    c.bench_function("sas: issue an upload URL", |b| {
        b.iter(|| container.upload_url(black_box(&signer), black_box(issued_at)))
    });
}

fn tokens(c: &mut Criterion) {
    let secret = [7u8; 32];
    let now = 1_796_400_000;
    let policy = TokenPolicy {
        keys: Some(vec![development_key(&secret).unwrap()]),
        accept_application_permission: false,
    };
    let valid = mint(&secret, &TokenRequest::default(), now).unwrap();
    let expired = mint(
        &secret,
        &TokenRequest {
            expires_in: -60,
            ..TokenRequest::default()
        },
        now,
    )
    .unwrap();
    let forged = mint(&[8u8; 32], &TokenRequest::default(), now).unwrap();
    assert!(policy.check(&valid, now).is_ok());
    assert!(policy.check(&expired, now).is_err());
    assert!(policy.check(&forged, now).is_err());

    let mut group = c.benchmark_group("token");
    group.bench_function("check a valid HS256 token", |b| {
        b.iter(|| policy.check(black_box(&valid), now))
    });
    group.bench_function("check an expired token", |b| {
        b.iter(|| policy.check(black_box(&expired), now))
    });
    group.bench_function("check a token with a wrong signature", |b| {
        b.iter(|| policy.check(black_box(&forged), now))
    });
    group.finish();
}

criterion_group!(benches, sas, tokens);
criterion_main!(benches);
