//! Token verification, case by case: each case builds a token and says whether the verifier
//! accepts it (and as whom) or which error it refuses it with.
//!
//! The RSA and EC key pairs under `tests/keys/` are test-only (see the README there).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use throng_auth::{mint_hs256, AuthError, AuthSetupError, Claims, DevCredentials, JwtVerifier};
use throng_config::{AuthConfig, JwtAlgorithm};

const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";
const OTHER_SECRET: &str = "another-secret-0123456789-0123456789-xyz";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap()
}

fn hs256_config() -> AuthConfig {
    AuthConfig {
        jwt_secret: Some(SECRET.to_owned()),
        ..AuthConfig::default()
    }
}

fn public_key_config(algorithm: JwtAlgorithm, file: &str) -> AuthConfig {
    AuthConfig {
        jwt_algorithm: algorithm,
        jwt_public_key_file: Some(key_path(file)),
        ..AuthConfig::default()
    }
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).unwrap()
}

fn hs(algorithm: Algorithm, secret: &[u8], claims: &Value) -> String {
    sign(algorithm, &EncodingKey::from_secret(secret), claims)
}

fn rsa(private_key_file: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&key_bytes(private_key_file)).unwrap();
    sign(Algorithm::RS256, &key, claims)
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&key_bytes("ec-private.pem")).unwrap();
    sign(Algorithm::ES256, &key, claims)
}

/// A token assembled by hand: any header, any claims, any signature text.
fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Replaces a signed token's claims, keeping its header and signature.
fn with_claims_swapped(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

fn valid_claims() -> Value {
    json!({ "sub": "alice", "exp": now() + 600 })
}

#[derive(Debug)]
enum Expect<'a> {
    /// Accepted, as this user.
    User(&'a str),
    Refused(AuthError),
    /// Refused as invalid claims whose detail mentions this.
    InvalidClaims(&'static str),
}

fn check(verifier: &JwtVerifier, cases: Vec<(&str, String, Expect<'_>)>) {
    for (name, token, expect) in cases {
        let result = verifier.verify(&token);
        match (&expect, &result) {
            (Expect::User(user), Ok(claims)) => assert_eq!(claims.sub, *user, "{name}"),
            (Expect::Refused(wanted), Err(got)) => assert_eq!(got, wanted, "{name}"),
            (Expect::InvalidClaims(detail), Err(AuthError::InvalidClaims(got))) => {
                assert!(got.contains(detail), "{name}: {got:?} lacks {detail:?}")
            }
            _ => panic!("{name}: expected {expect:?}, got {result:?}"),
        }
    }
}

#[test]
fn hs256_tokens() {
    let verifier = JwtVerifier::new(&hs256_config(), None).unwrap();
    let secret = SECRET.as_bytes();
    let good = hs(Algorithm::HS256, secret, &valid_claims());
    let long_sub = "u".repeat(128);
    use Expect::*;
    check(
        &verifier,
        vec![
            ("good token", good.clone(), User("alice")),
            (
                "good token with every claim",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "bob", "exp": now() + 60, "nbf": now() - 60, "iat": now() - 60,
                            "roles": ["system"], "name": "Bob", "extra": {"ignored": true}}),
                ),
                User("bob"),
            ),
            (
                "expired",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "alice", "exp": now() - 3600}),
                ),
                Refused(AuthError::Expired),
            ),
            (
                "not valid before a time in the future",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}),
                ),
                Refused(AuthError::NotYetValid),
            ),
            (
                "wrong secret",
                hs(Algorithm::HS256, OTHER_SECRET.as_bytes(), &valid_claims()),
                Refused(AuthError::BadSignature),
            ),
            (
                "claims changed after signing",
                with_claims_swapped(&good, &json!({"sub": "mallory", "exp": now() + 600})),
                Refused(AuthError::BadSignature),
            ),
            (
                "signed HS512 with the right secret",
                hs(Algorithm::HS512, secret, &valid_claims()),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "signed HS384 with the right secret",
                hs(Algorithm::HS384, secret, &valid_claims()),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "alg none, no signature",
                raw(&json!({"alg": "none", "typ": "JWT"}), &valid_claims(), ""),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "alg None, no signature",
                raw(&json!({"alg": "None"}), &valid_claims(), ""),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "alg hs256 in lower case",
                raw(&json!({"alg": "hs256"}), &valid_claims(), "c2ln"),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "alg RS256 with an HMAC signature",
                raw(
                    &json!({"alg": "RS256"}),
                    &valid_claims(),
                    good.rsplit('.').next().unwrap(),
                ),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "no exp",
                hs(Algorithm::HS256, secret, &json!({"sub": "alice"})),
                InvalidClaims("exp"),
            ),
            (
                "exp is not a number",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "alice", "exp": "tomorrow"}),
                ),
                InvalidClaims("shape"),
            ),
            (
                "no sub",
                hs(Algorithm::HS256, secret, &json!({"exp": now() + 600})),
                InvalidClaims("sub"),
            ),
            (
                "empty sub",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "", "exp": now() + 600}),
                ),
                InvalidClaims("sub must be 1 to 128 bytes, got 0"),
            ),
            (
                "sub of 128 bytes",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": &long_sub, "exp": now() + 600}),
                ),
                User(&long_sub),
            ),
            (
                "sub of 129 bytes",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "u".repeat(129), "exp": now() + 600}),
                ),
                InvalidClaims("got 129"),
            ),
            (
                "sub is a number",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": 42, "exp": now() + 600}),
                ),
                InvalidClaims("shape"),
            ),
            (
                "roles is not a list",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "alice", "exp": now() + 600, "roles": "admin"}),
                ),
                InvalidClaims("shape"),
            ),
            (
                "aud present while the server expects none",
                hs(
                    Algorithm::HS256,
                    secret,
                    &json!({"sub": "alice", "exp": now() + 600, "aud": "elsewhere"}),
                ),
                InvalidClaims("no audience"),
            ),
            (
                "claims are not JSON",
                {
                    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
                    let payload = URL_SAFE_NO_PAD.encode("not json");
                    let signing_input = format!("{header}.{payload}");
                    // Sign the garbage properly, so only the claims are wrong.
                    let signature = jsonwebtoken::crypto::sign(
                        signing_input.as_bytes(),
                        &EncodingKey::from_secret(secret),
                        Algorithm::HS256,
                    )
                    .unwrap();
                    format!("{signing_input}.{signature}")
                },
                InvalidClaims("shape"),
            ),
        ],
    );
}

#[test]
fn garbage_is_missing_or_malformed() {
    let verifier = JwtVerifier::new(&hs256_config(), None).unwrap();
    let good = hs(Algorithm::HS256, SECRET.as_bytes(), &valid_claims());
    let parts: Vec<&str> = good.split('.').collect();
    use AuthError::{Malformed, Missing};
    let cases: Vec<(&str, String, AuthError)> = vec![
        ("empty", String::new(), Missing),
        ("one word", "token".into(), Malformed),
        ("two parts", "a.b".into(), Malformed),
        ("three junk parts", "a.b.c".into(), Malformed),
        ("four parts", format!("{good}.extra"), Malformed),
        ("only dots", "..".into(), Malformed),
        ("spaces", "   ".into(), Malformed),
        ("Bearer prefix left on", format!("Bearer {good}"), Malformed),
        (
            "header is not base64url",
            format!("!!!.{}.{}", parts[1], parts[2]),
            Malformed,
        ),
        (
            "header is not JSON",
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode("hello"),
                parts[1],
                parts[2]
            ),
            Malformed,
        ),
        (
            "header has no alg",
            raw(&json!({"typ": "JWT"}), &valid_claims(), parts[2]),
            Malformed,
        ),
        (
            "header has a wrongly typed field",
            raw(
                &json!({"alg": "HS256", "kid": 5}),
                &valid_claims(),
                parts[2],
            ),
            Malformed,
        ),
        (
            "signature is not base64url",
            format!("{}.{}.***", parts[0], parts[1]),
            Malformed,
        ),
        (
            "far too long",
            format!("{good}{}", "A".repeat(9_000)),
            Malformed,
        ),
        (
            "padded base64",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            Malformed,
        ),
    ];
    for (name, token, wanted) in cases {
        assert_eq!(verifier.verify(&token), Err(wanted), "{name}");
    }
}

#[test]
fn issuer_and_audience_when_configured() {
    let config = AuthConfig {
        jwt_issuer: Some("https://auth.example".into()),
        jwt_audience: Some("throng".into()),
        ..hs256_config()
    };
    let verifier = JwtVerifier::new(&config, None).unwrap();
    let token = |claims: Value| hs(Algorithm::HS256, SECRET.as_bytes(), &claims);
    let exp = now() + 600;
    use Expect::*;
    check(
        &verifier,
        vec![
            (
                "both right",
                token(
                    json!({"sub": "a", "exp": exp, "iss": "https://auth.example", "aud": "throng"}),
                ),
                User("a"),
            ),
            (
                "audience among several",
                token(
                    json!({"sub": "a", "exp": exp, "iss": "https://auth.example", "aud": ["web", "throng"]}),
                ),
                User("a"),
            ),
            (
                "no issuer",
                token(json!({"sub": "a", "exp": exp, "aud": "throng"})),
                InvalidClaims("iss"),
            ),
            (
                "wrong issuer",
                token(
                    json!({"sub": "a", "exp": exp, "iss": "https://evil.example", "aud": "throng"}),
                ),
                InvalidClaims("configured issuer"),
            ),
            (
                "no audience",
                token(json!({"sub": "a", "exp": exp, "iss": "https://auth.example"})),
                InvalidClaims("aud"),
            ),
            (
                "wrong audience",
                token(
                    json!({"sub": "a", "exp": exp, "iss": "https://auth.example", "aud": "billing"}),
                ),
                InvalidClaims("configured audience"),
            ),
        ],
    );
}

#[test]
fn leeway_is_the_configured_one() {
    // Generous margins either side of the leeway, so a slow machine cannot flip a case.
    let config = AuthConfig {
        leeway_s: 120,
        ..hs256_config()
    };
    let verifier = JwtVerifier::new(&config, None).unwrap();
    let token = |claims: Value| hs(Algorithm::HS256, SECRET.as_bytes(), &claims);
    use Expect::*;
    check(
        &verifier,
        vec![
            (
                "expired, within leeway",
                token(json!({"sub": "a", "exp": now() - 30})),
                User("a"),
            ),
            (
                "expired, beyond leeway",
                token(json!({"sub": "a", "exp": now() - 600})),
                Refused(AuthError::Expired),
            ),
            (
                "nbf ahead, within leeway",
                token(json!({"sub": "a", "exp": now() + 600, "nbf": now() + 30})),
                User("a"),
            ),
            (
                "nbf ahead, beyond leeway",
                token(json!({"sub": "a", "exp": now() + 6000, "nbf": now() + 600})),
                Refused(AuthError::NotYetValid),
            ),
        ],
    );
}

#[test]
fn rs256_tokens() {
    let verifier = JwtVerifier::new(
        &public_key_config(JwtAlgorithm::Rs256, "rsa-public.pem"),
        None,
    )
    .unwrap();
    let good = rsa("rsa-private.pem", &valid_claims());
    use Expect::*;
    check(
        &verifier,
        vec![
            ("good token", good.clone(), User("alice")),
            (
                "signed by another RSA key",
                rsa("rsa-other-private.pem", &valid_claims()),
                Refused(AuthError::BadSignature),
            ),
            (
                "claims changed after signing",
                with_claims_swapped(&good, &json!({"sub": "mallory", "exp": now() + 600})),
                Refused(AuthError::BadSignature),
            ),
            (
                // The classic confusion attack: HMAC with the public key as the secret.
                "HS256 keyed with the public key PEM",
                hs(
                    Algorithm::HS256,
                    &key_bytes("rsa-public.pem"),
                    &valid_claims(),
                ),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "expired",
                rsa(
                    "rsa-private.pem",
                    &json!({"sub": "alice", "exp": now() - 3600}),
                ),
                Refused(AuthError::Expired),
            ),
            (
                "ES256 token",
                es256(&valid_claims()),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "alg none",
                raw(&json!({"alg": "none"}), &valid_claims(), ""),
                Refused(AuthError::WrongAlgorithm),
            ),
        ],
    );
}

#[test]
fn es256_tokens() {
    let verifier = JwtVerifier::new(
        &public_key_config(JwtAlgorithm::Es256, "ec-public.pem"),
        None,
    )
    .unwrap();
    let good = es256(&valid_claims());
    use Expect::*;
    check(
        &verifier,
        vec![
            ("good token", good.clone(), User("alice")),
            (
                "claims changed after signing",
                with_claims_swapped(&good, &json!({"sub": "mallory", "exp": now() + 600})),
                Refused(AuthError::BadSignature),
            ),
            (
                "HS256 keyed with the public key PEM",
                hs(
                    Algorithm::HS256,
                    &key_bytes("ec-public.pem"),
                    &valid_claims(),
                ),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "RS256 token",
                rsa("rsa-private.pem", &valid_claims()),
                Refused(AuthError::WrongAlgorithm),
            ),
            (
                "not valid yet",
                es256(&json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600})),
                Refused(AuthError::NotYetValid),
            ),
        ],
    );
}

#[test]
fn verified_claims_carry_roles_name_and_times() {
    let verifier = JwtVerifier::new(&hs256_config(), None).unwrap();
    let (exp, nbf, iat) = (now() + 600, now() - 10, now() - 20);
    let token = hs(
        Algorithm::HS256,
        SECRET.as_bytes(),
        &json!({"sub": "carol", "exp": exp, "nbf": nbf, "iat": iat, "roles": ["system", "mod"], "name": "Carol"}),
    );
    assert_eq!(
        verifier.verify(&token).unwrap(),
        Claims {
            sub: "carol".into(),
            exp,
            nbf: Some(nbf),
            iat: Some(iat),
            roles: vec!["system".into(), "mod".into()],
            name: Some("Carol".into()),
        }
    );
}

#[test]
fn setup_errors() {
    type Check = fn(&AuthSetupError) -> bool;
    let cases: Vec<(&str, AuthConfig, Check)> = vec![
        (
            "HS256 without a secret or dev credentials",
            AuthConfig::default(),
            |e| matches!(e, AuthSetupError::MissingSecret),
        ),
        (
            "HS256 secret too short",
            AuthConfig {
                jwt_secret: Some("short".into()),
                ..AuthConfig::default()
            },
            |e| matches!(e, AuthSetupError::WeakSecret { got: 5, min: 32 }),
        ),
        (
            "RS256 without a key file",
            AuthConfig {
                jwt_algorithm: JwtAlgorithm::Rs256,
                ..AuthConfig::default()
            },
            |e| {
                matches!(
                    e,
                    AuthSetupError::MissingPublicKey {
                        algorithm: JwtAlgorithm::Rs256
                    }
                )
            },
        ),
        (
            "RS256 key file absent",
            public_key_config(JwtAlgorithm::Rs256, "absent.pem"),
            |e| matches!(e, AuthSetupError::ReadPublicKey { .. }),
        ),
        (
            "RS256 given an EC key",
            public_key_config(JwtAlgorithm::Rs256, "ec-public.pem"),
            |e| matches!(e, AuthSetupError::InvalidPublicKey { .. }),
        ),
        (
            "ES256 given an RSA key",
            public_key_config(JwtAlgorithm::Es256, "rsa-public.pem"),
            |e| matches!(e, AuthSetupError::InvalidPublicKey { .. }),
        ),
        (
            "RS256 given the private key",
            public_key_config(JwtAlgorithm::Rs256, "rsa-private.pem"),
            |e| e.to_string().contains("private key"),
        ),
        (
            "ES256 given a file that is not PEM",
            public_key_config(JwtAlgorithm::Es256, "README.md"),
            |e| matches!(e, AuthSetupError::InvalidPublicKey { .. }),
        ),
    ];
    for (name, config, is_expected) in cases {
        let error = JwtVerifier::new(&config, None).expect_err(name);
        assert!(is_expected(&error), "{name}: {error}");
        assert!(!error.to_string().contains('\n'), "{name}: {error}");
    }
}

#[test]
fn the_configured_secret_wins_over_the_development_one() {
    let dev = DevCredentials::generate();
    let with_dev_only = JwtVerifier::new(&AuthConfig::default(), Some(&dev)).unwrap();
    let with_both = JwtVerifier::new(&hs256_config(), Some(&dev)).unwrap();
    let dev_token = hs(Algorithm::HS256, dev.jwt_secret.as_bytes(), &valid_claims());
    let configured_token = hs(Algorithm::HS256, SECRET.as_bytes(), &valid_claims());

    assert_eq!(with_dev_only.verify(&dev_token).unwrap().sub, "alice");
    assert_eq!(
        with_dev_only.verify(&configured_token),
        Err(AuthError::BadSignature)
    );
    assert_eq!(with_both.verify(&configured_token).unwrap().sub, "alice");
    assert_eq!(with_both.verify(&dev_token), Err(AuthError::BadSignature));
}

#[test]
fn minted_tokens_verify() {
    let verifier = JwtVerifier::new(&hs256_config(), None).unwrap();
    let roles = vec!["system".to_owned()];
    let before = now();
    let token = mint_hs256(SECRET, "dave", Duration::from_secs(3600), &roles).unwrap();
    let after = now();
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(claims.sub, "dave");
    assert_eq!(claims.roles, roles);
    assert!(
        (before + 3600..=after + 3600).contains(&claims.exp),
        "{claims:?}"
    );
    assert!(claims
        .iat
        .is_some_and(|iat| (before..=after).contains(&iat)));

    for bad_user in [String::new(), "x".repeat(129)] {
        let error = mint_hs256(SECRET, &bad_user, Duration::from_secs(60), &[]).unwrap_err();
        assert!(
            matches!(error, AuthSetupError::InvalidSubject { .. }),
            "{error}"
        );
    }
}

#[test]
fn error_codes_are_the_wire_contract() {
    let cases = [
        (AuthError::Missing, "token_missing"),
        (AuthError::Malformed, "token_malformed"),
        (AuthError::BadSignature, "token_bad_signature"),
        (AuthError::Expired, "token_expired"),
        (AuthError::NotYetValid, "token_not_yet_valid"),
        (AuthError::WrongAlgorithm, "token_wrong_algorithm"),
        (
            AuthError::InvalidClaims("sub".into()),
            "token_invalid_claims",
        ),
    ];
    let mut messages = std::collections::HashSet::new();
    for (error, code) in cases {
        assert_eq!(error.code(), code);
        assert!(
            messages.insert(error.message()),
            "duplicate message for {code}"
        );
    }
}
