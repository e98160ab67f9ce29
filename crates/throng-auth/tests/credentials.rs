//! Server API keys and the development credentials file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::time::Duration;
use throng_auth::{
    mint_hs256, ApiKeys, AuthSetupError, DevCredentials, JwtVerifier, DEV_CREDENTIALS_FILE,
};
use throng_config::AuthConfig;

const KEY_A: &str = "key-a-0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef";

#[test]
fn api_keys_match_exactly() {
    let keys = ApiKeys::new(vec![KEY_A.into(), KEY_B.into()]);
    let cases = [
        (KEY_A, true),
        (KEY_B, true),
        ("key-a-0123456789abcde", false),
        ("key-a-0123456789abcdefg", false),
        ("KEY-A-0123456789ABCDEF", false),
        (" key-a-0123456789abcdef", false),
        ("key-c-0123456789abcdef", false),
        ("", false),
    ];
    for (presented, expected) in cases {
        assert_eq!(keys.check(presented), expected, "{presented:?}");
    }
}

#[test]
fn api_keys_never_match_when_none_or_empty() {
    let cases: [(Vec<String>, &str); 4] = [
        (vec![], ""),
        (vec![], KEY_A),
        (vec![String::new()], ""),
        (vec![String::new(), KEY_A.into()], ""),
    ];
    for (keys, presented) in cases {
        let keys = ApiKeys::new(keys);
        assert!(!keys.check(presented), "{keys:?} {presented:?}");
    }
    let with_empty = ApiKeys::new(vec![String::new(), KEY_A.into()]);
    assert_eq!(with_empty.len(), 1);
    assert!(!ApiKeys::new(vec![KEY_A.into()]).is_empty());
    assert!(!format!("{with_empty:?}").contains(KEY_A));
}

fn decoded_len(text: &str) -> usize {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url without padding")
        .len()
}

#[test]
fn dev_credentials_are_created_once_and_reused() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("nested/throng-data");
    assert!(DevCredentials::load(&data_dir).unwrap().is_none());

    let created = DevCredentials::load_or_create(&data_dir).unwrap();
    assert_eq!(decoded_len(&created.jwt_secret), 32);
    let random_part = created.api_key.strip_prefix("thr_").expect("thr_ prefix");
    assert_eq!(decoded_len(random_part), 32);
    assert_ne!(created.jwt_secret, random_part);

    let path = data_dir.join(DEV_CREDENTIALS_FILE);
    assert_eq!(DevCredentials::path(&data_dir), path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let written = std::fs::read_to_string(&path).unwrap();

    let again = DevCredentials::load_or_create(&data_dir).unwrap();
    assert_eq!(again, created);
    assert_eq!(
        DevCredentials::load(&data_dir).unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        written,
        "file rewritten"
    );

    // Tokens minted with the kept secret verify on a later start.
    let verifier = JwtVerifier::new(&AuthConfig::default(), Some(&again)).unwrap();
    let token = mint_hs256(&created.jwt_secret, "erin", Duration::from_secs(60), &[]).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().sub, "erin");
    assert!(ApiKeys::new(vec![again.api_key.clone()]).check(&created.api_key));
}

#[test]
fn generated_credentials_differ() {
    let first = DevCredentials::generate();
    let second = DevCredentials::generate();
    assert_ne!(first.jwt_secret, second.jwt_secret);
    assert_ne!(first.api_key, second.api_key);
    assert!(!format!("{first:?}").contains(&first.jwt_secret));
}

#[test]
fn unusable_credentials_files_are_refused_not_overwritten() {
    let cases = [
        ("not json", "{ nope"),
        (
            "missing field",
            r#"{"jwt_secret": "0123456789012345678901234567890123456789"}"#,
        ),
        (
            "unknown field",
            r#"{"jwt_secret": "0123456789012345678901234567890123456789", "api_key": "thr_0123456789abcdef", "x": 1}"#,
        ),
        (
            "short secret",
            r#"{"jwt_secret": "short", "api_key": "thr_0123456789abcdef"}"#,
        ),
        (
            "short api key",
            r#"{"jwt_secret": "0123456789012345678901234567890123456789", "api_key": "thr_1"}"#,
        ),
    ];
    for (name, contents) in cases {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().join(DEV_CREDENTIALS_FILE);
        std::fs::write(&path, contents).unwrap();
        for result in [
            DevCredentials::load(data_dir.path()).map(|_| ()),
            DevCredentials::load_or_create(data_dir.path()).map(|_| ()),
        ] {
            let error = result.expect_err(name);
            assert!(
                matches!(error, AuthSetupError::DevCredentialsInvalid { .. }),
                "{name}: {error}"
            );
            assert!(error.to_string().contains("delete it"), "{name}: {error}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), contents, "{name}");
    }
}

#[test]
fn a_data_dir_that_is_a_file_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let not_a_dir = root.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let error = DevCredentials::load_or_create(&not_a_dir).unwrap_err();
    assert!(
        matches!(error, AuthSetupError::DevCredentialsIo { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("plain-file"), "{error}");
}
