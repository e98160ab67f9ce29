//! Loading, layering and validation through the public API, as many small cases through a
//! few helpers. No test touches the process environment.

use std::path::PathBuf;
use throng_config::{Config, ConfigError, JwtAlgorithm, LogFormat};

/// Loads with an optional file written from `file_text` and the given environment pairs.
fn load(file_text: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("throng.toml");
    if let Some(text) = file_text {
        std::fs::write(&path, text).unwrap();
    }
    let pairs = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()));
    Config::load_from_env_and(file_text.map(|_| path.as_path()), pairs)
}

const SECRET_OF_DIGITS: &str = "01234567890123456789012345678901234";
const KEY_A: &str = "key-a-0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef";

#[test]
fn layers_apply_in_order_defaults_file_environment() {
    /// (case name, file text, environment, how the result differs from the defaults)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<(&'static str, &'static str)>,
        fn(&mut Config),
    );
    let cases: Vec<Case> = vec![
        ("nothing given", None, vec![], |_| {}),
        ("empty file", Some(""), vec![], |_| {}),
        (
            "file sets listen",
            Some("listen = \"127.0.0.1:9000\""),
            vec![],
            |c| c.listen = "127.0.0.1:9000".parse().unwrap(),
        ),
        (
            "environment wins over file",
            Some("listen = \"127.0.0.1:9000\""),
            vec![("THRONG_LISTEN", "0.0.0.0:9100")],
            |c| c.listen = "0.0.0.0:9100".parse().unwrap(),
        ),
        (
            "nested environment keeps sibling defaults",
            None,
            vec![("THRONG_ROOMS__DEFAULTS__RATE_PER_SEC", "50")],
            |c| c.rooms.defaults.rate_per_sec = 50,
        ),
        (
            "file and environment set different fields of one table",
            Some("[rooms.defaults]\nring_low = 10\n"),
            vec![("THRONG_ROOMS__DEFAULTS__RATE_PER_SEC", "50")],
            |c| {
                c.rooms.defaults.ring_low = 10;
                c.rooms.defaults.rate_per_sec = 50;
            },
        ),
        (
            "a file's message types replace the default ones",
            Some("[rooms.defaults.types]\ncheer = { policy = \"drop_over_rate\" }\n"),
            vec![],
            |c| {
                c.rooms.defaults.types.clear();
                c.rooms.defaults.types.insert(
                    "cheer".into(),
                    throng_room::TypePolicy::DropOverRate {
                        priority: throng_protocol::Priority::Low,
                    },
                );
            },
        ),
        (
            "list from environment",
            None,
            vec![(
                "THRONG_AUTH__API_KEYS",
                r#"["key-a-0123456789abcdef", "key-b-0123456789abcdef"]"#,
            )],
            |c| c.auth.api_keys = vec![KEY_A.to_owned(), KEY_B.to_owned()],
        ),
        (
            "variable names are case-insensitive",
            None,
            vec![("throng_log__level", "debug")],
            |c| c.log.level = "debug".to_owned(),
        ),
        (
            "boolean from environment",
            None,
            vec![("THRONG_ROOMS__AUTO_CREATE", "false")],
            |c| c.rooms.auto_create = false,
        ),
        (
            "a secret made of digits stays text, leading zero included",
            None,
            vec![("THRONG_AUTH__JWT_SECRET", SECRET_OF_DIGITS)],
            |c| c.auth.jwt_secret = Some(SECRET_OF_DIGITS.to_owned()),
        ),
        (
            "enum and path from environment",
            None,
            vec![
                ("THRONG_AUTH__JWT_ALGORITHM", "ES256"),
                ("THRONG_AUTH__JWT_PUBLIC_KEY_FILE", "/keys/issuer.pem"),
            ],
            |c| {
                c.auth.jwt_algorithm = JwtAlgorithm::Es256;
                c.auth.jwt_public_key_file = Some(PathBuf::from("/keys/issuer.pem"));
            },
        ),
        (
            "a whole table from one variable, refined by a field variable",
            None,
            vec![
                ("THRONG_LIMITS__USER_BURST", "9"),
                ("THRONG_LIMITS", "{max_connections = 5, user_burst = 7}"),
            ],
            |c| {
                c.limits.max_connections = 5;
                c.limits.user_burst = 9;
            },
        ),
        (
            "other variables, and the reserved config path variable, are ignored",
            None,
            vec![
                ("PATH", "/usr/bin"),
                ("THRONGX", "1"),
                ("THRONG_CONFIG", "/etc/throng.toml"),
            ],
            |_| {},
        ),
        (
            "strings, paths and enums from the file",
            Some(
                "data_dir = \"/var/lib/throng\"\npublic_url = \"https://chat.example.com/\"\n\
                 [log]\nformat = \"json\"\nlevel = \"warn,throng_server=debug\"\n",
            ),
            vec![],
            |c| {
                c.data_dir = PathBuf::from("/var/lib/throng");
                c.public_url = Some("https://chat.example.com/".to_owned());
                c.log.format = LogFormat::Json;
                c.log.level = "warn,throng_server=debug".to_owned();
            },
        ),
        (
            "values are trimmed",
            None,
            vec![("THRONG_GATEWAY__HEARTBEAT_MS", " 30000 ")],
            |c| c.gateway.heartbeat_ms = 30_000,
        ),
    ];
    for (name, file, env, expect) in cases {
        let mut expected = Config::default();
        expect(&mut expected);
        let loaded = load(file, &env).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(loaded, expected, "{name}");
    }
}

/// What a refused configuration must say: which variant, which field (for `Invalid`), and
/// fragments of the one-line message.
struct Refusal {
    field: Option<&'static str>,
    says: &'static [&'static str],
}

fn check_refused(name: &str, result: Result<Config, ConfigError>, refusal: Refusal) {
    let error = match result {
        Ok(config) => panic!("{name}: expected an error, loaded {config:?}"),
        Err(error) => error,
    };
    let text = error.to_string();
    assert!(!text.contains('\n'), "{name}: not one line: {text}");
    assert_eq!(error.field(), refusal.field, "{name}: {text}");
    for fragment in refusal.says {
        assert!(
            text.contains(fragment),
            "{name}: {text:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn bad_files_are_refused_naming_the_file_and_line() {
    let cases: Vec<(&str, &str, &[&str])> = vec![
        (
            "unknown top-level setting",
            "listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n",
            &["throng.toml", "line 2", "listen_addr"],
        ),
        (
            "unknown nested setting",
            "[limits]\nmax_frame_byte = 10\n",
            &["throng.toml", "line 2", "max_frame_byte"],
        ),
        (
            "a secret with a bad value is located but not echoed",
            "[auth]\njwt_secret = 12345678901234567890123456789012345\n",
            &["line 2", "(auth.jwt_secret)"],
        ),
        (
            "unknown room setting",
            "[rooms.defaults.batch]\n\nmax_msgs = 1\n",
            &["line 3", "max_msgs"],
        ),
        (
            "wrong type",
            "[limits]\nmax_connections = \"many\"\n",
            &["line 2, column 19 (limits.max_connections)", "u32"],
        ),
        (
            "negative number",
            "[limits]\nuser_burst = -1\n",
            &["line 2", "limits.user_burst"],
        ),
        (
            "unknown algorithm",
            "[auth]\njwt_algorithm = \"HS512\"\n",
            &["line 2", "(auth.jwt_algorithm)", "HS512"],
        ),
        (
            "bad address",
            "listen = \"localhost\"\n",
            &["line 1", "(listen)", "socket address"],
        ),
        (
            "malformed TOML",
            "[limits\nmax_connections = 1\n",
            &["line 1", "throng.toml"],
        ),
        ("missing value", "\n\nlisten =\n", &["line 3"]),
        (
            "duplicate key",
            "data_dir = \"a\"\ndata_dir = \"b\"\n",
            &["line 2"],
        ),
    ];
    for (name, text, says) in cases {
        check_refused(name, load(Some(text), &[]), Refusal { field: None, says });
    }
}

#[test]
fn a_missing_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let error = Config::load_from_env_and(Some(&path), Vec::new()).unwrap_err();
    match &error {
        ConfigError::File {
            path: reported,
            message,
        } => {
            assert_eq!(reported, &path);
            assert!(message.starts_with("cannot be read"), "{message}");
        }
        other => panic!("expected a file error, got {other:?}"),
    }
    assert!(error.to_string().contains("absent.toml"), "{error}");
}

#[test]
fn bad_environment_values_are_refused_naming_field_and_variable() {
    let cases: Vec<(&str, (&str, &str), Refusal)> = vec![
        (
            "unknown top-level variable",
            ("THRONG_LISTEN_ADDR", "127.0.0.1:1"),
            Refusal {
                field: Some("listen_addr"),
                says: &["not a known setting", "THRONG_LISTEN_ADDR"],
            },
        ),
        (
            "unknown nested variable",
            ("THRONG_LIMITS__MAX_FRAME_BYTE", "10"),
            Refusal {
                field: Some("limits.max_frame_byte"),
                says: &["max_frame_bytes", "THRONG_LIMITS__MAX_FRAME_BYTE"],
            },
        ),
        (
            "not a number",
            ("THRONG_LIMITS__MAX_CONNECTIONS", "many"),
            Refusal {
                field: Some("limits.max_connections"),
                says: &["\"many\"", "THRONG_LIMITS__MAX_CONNECTIONS"],
            },
        ),
        (
            "not a boolean",
            ("THRONG_ROOMS__AUTO_CREATE", "sometimes"),
            Refusal {
                field: Some("rooms.auto_create"),
                says: &["\"sometimes\""],
            },
        ),
        (
            "unknown algorithm",
            ("THRONG_AUTH__JWT_ALGORITHM", "none"),
            Refusal {
                field: Some("auth.jwt_algorithm"),
                says: &["HS256", "none"],
            },
        ),
        (
            "not an address",
            ("THRONG_LISTEN", "localhost"),
            Refusal {
                field: Some("listen"),
                says: &["THRONG_LISTEN"],
            },
        ),
        (
            "a list setting given a plain string",
            ("THRONG_AUTH__API_KEYS", KEY_A),
            Refusal {
                field: Some("auth.api_keys"),
                says: &[r#"must be a list, written ["first","second"]"#],
            },
        ),
        (
            "empty nesting level",
            ("THRONG_LIMITS____MAX_CONNECTIONS", "1"),
            Refusal {
                field: Some("environment variable THRONG_LIMITS____MAX_CONNECTIONS"),
                says: &["not a setting name"],
            },
        ),
        (
            "nothing after the prefix",
            ("THRONG_", "1"),
            Refusal {
                field: Some("environment variable THRONG_"),
                says: &["not a setting name"],
            },
        ),
        (
            "valid syntax, out of range",
            ("THRONG_LIMITS__MAX_FRAME_BYTES", "10"),
            Refusal {
                field: Some("limits.max_frame_bytes"),
                says: &["between 1024 and 16777216, got 10"],
            },
        ),
    ];
    for (name, variable, refusal) in cases {
        check_refused(name, load(None, &[variable]), refusal);
    }
}

#[test]
fn validation_errors_read_as_one_line_naming_the_field() {
    let error = load(Some("[limits]\nmax_frame_bytes = 10\n"), &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config: limits.max_frame_bytes must be between 1024 and 16777216, got 10"
    );
}

#[test]
fn every_validation_rule_names_its_field() {
    type Mutate = fn(&mut Config);
    let cases: Vec<(Mutate, &str, &str)> = vec![
        (|c| c.data_dir = PathBuf::new(), "data_dir", "empty"),
        (|c| c.public_url = Some(" ".into()), "public_url", "empty"),
        (
            |c| c.public_url = Some("chat.example.com".into()),
            "public_url",
            "http://",
        ),
        (
            |c| c.public_url = Some("https://".into()),
            "public_url",
            "host",
        ),
        (
            |c| c.auth.jwt_secret = Some("short".into()),
            "auth.jwt_secret",
            "at least 32 bytes, got 5",
        ),
        (
            |c| c.auth.dev_credentials = false,
            "auth.jwt_secret",
            "required for HS256",
        ),
        (
            |c| {
                c.auth.dev_credentials = false;
                c.auth.jwt_secret = Some("x".repeat(32));
            },
            "auth.api_keys",
            "at least one key",
        ),
        (
            |c| c.auth.jwt_public_key_file = Some("k.pem".into()),
            "auth.jwt_public_key_file",
            "only used with RS256 or ES256",
        ),
        (
            |c| c.auth.jwt_algorithm = JwtAlgorithm::Rs256,
            "auth.jwt_public_key_file",
            "required when auth.jwt_algorithm is RS256",
        ),
        (
            |c| c.auth.jwt_algorithm = JwtAlgorithm::Es256,
            "auth.jwt_public_key_file",
            "ES256",
        ),
        (
            |c| {
                c.auth.jwt_algorithm = JwtAlgorithm::Rs256;
                c.auth.jwt_public_key_file = Some("k.pem".into());
                c.auth.jwt_secret = Some("x".repeat(32));
            },
            "auth.jwt_secret",
            "only used with HS256",
        ),
        (
            |c| {
                c.auth.jwt_algorithm = JwtAlgorithm::Rs256;
                c.auth.jwt_public_key_file = Some(PathBuf::new());
            },
            "auth.jwt_public_key_file",
            "empty",
        ),
        (
            |c| c.auth.jwt_issuer = Some(String::new()),
            "auth.jwt_issuer",
            "empty",
        ),
        (
            |c| c.auth.jwt_audience = Some(String::new()),
            "auth.jwt_audience",
            "empty",
        ),
        (
            |c| c.auth.leeway_s = 301,
            "auth.leeway_s",
            "between 0 and 300",
        ),
        (
            |c| c.auth.api_keys = vec![KEY_A.into(), "short-key".into()],
            "auth.api_keys[1]",
            "between 16 and 256 characters, got 9",
        ),
        (
            |c| c.auth.api_keys = vec!["x".repeat(257)],
            "auth.api_keys[0]",
            "got 257",
        ),
        (
            |c| c.auth.api_keys = vec!["key with spaces 0123".into()],
            "auth.api_keys[0]",
            "printable ASCII",
        ),
        (
            |c| c.limits.max_connections = 0,
            "limits.max_connections",
            "between 1 and",
        ),
        (
            |c| c.limits.max_frame_bytes = 1_023,
            "limits.max_frame_bytes",
            "got 1023",
        ),
        (
            |c| c.limits.max_message_bytes = 15,
            "limits.max_message_bytes",
            "between 16",
        ),
        (
            |c| c.limits.max_message_bytes = 65_537,
            "limits.max_message_bytes",
            "must not exceed limits.max_frame_bytes (65536)",
        ),
        (
            |c| c.limits.max_rooms_per_connection = 0,
            "limits.max_rooms_per_connection",
            "got 0",
        ),
        (
            |c| c.limits.user_rate_per_sec = 0,
            "limits.user_rate_per_sec",
            "got 0",
        ),
        (|c| c.limits.user_burst = 0, "limits.user_burst", "got 0"),
        (|c| c.rooms.max_rooms = 0, "rooms.max_rooms", "got 0"),
        (
            |c| c.rooms.defaults.rate_per_sec = 0,
            "rooms.defaults.rate_per_sec",
            "between 1 and 100000, got 0",
        ),
        (
            |c| c.rooms.defaults.notify.drop_after_ms = 10,
            "rooms.defaults.notify.drop_after_ms",
            "got 10",
        ),
        (
            |c| c.gateway.heartbeat_ms = 999,
            "gateway.heartbeat_ms",
            "between 1000 and 300000",
        ),
        (
            |c| c.gateway.heartbeat_ms = 300_001,
            "gateway.heartbeat_ms",
            "got 300001",
        ),
        (
            |c| c.gateway.drain_deadline_ms = 600_001,
            "gateway.drain_deadline_ms",
            "between 0",
        ),
        (
            |c| c.gateway.ws_read_buffer_bytes = 10,
            "gateway.ws_read_buffer_bytes",
            "got 10",
        ),
        (
            |c| c.gateway.ws_write_buffer_bytes = 16_777_217,
            "gateway.ws_write_buffer_bytes",
            "got 16777217",
        ),
        (
            |c| c.gateway.outbound_queue = 0,
            "gateway.outbound_queue",
            "got 0",
        ),
        (|c| c.log.level = " ".into(), "log.level", "empty"),
        (|c| c.log.level = "debg".into(), "log.level", "\"debg\""),
        (
            |c| c.log.level = "info,throng_server=loud".into(),
            "log.level",
            "\"loud\"",
        ),
        (|c| c.log.level = "=debug".into(), "log.level", "no target"),
    ];
    for (mutate, field, says) in cases {
        let mut config = Config::default();
        mutate(&mut config);
        let error = config.validate().expect_err(field);
        assert_eq!(error.field(), Some(field), "{error}");
        assert!(error.to_string().contains(says), "{error:?} lacks {says:?}");
    }
}

#[test]
fn accepted_edge_values() {
    type Mutate = fn(&mut Config);
    let cases: Vec<(&str, Mutate)> = vec![
        ("defaults", |_| {}),
        ("secret of exactly 32 bytes", |c| {
            c.auth.jwt_secret = Some("s".repeat(32))
        }),
        ("api key of exactly 16 characters", |c| {
            c.auth.api_keys = vec!["k".repeat(16)]
        }),
        ("RS256 with a key file", |c| {
            c.auth.jwt_algorithm = JwtAlgorithm::Rs256;
            c.auth.jwt_public_key_file = Some("issuer.pem".into());
        }),
        ("production auth without dev credentials", |c| {
            c.auth.dev_credentials = false;
            c.auth.jwt_secret = Some("s".repeat(40));
            c.auth.api_keys = vec![KEY_A.into()];
        }),
        ("message as large as a frame", |c| {
            c.limits.max_message_bytes = c.limits.max_frame_bytes
        }),
        ("heartbeat bounds", |c| c.gateway.heartbeat_ms = 1_000),
        ("zero drain deadline and write-through", |c| {
            c.gateway.drain_deadline_ms = 0;
            c.gateway.ws_write_buffer_bytes = 0;
        }),
        ("log directives", |c| {
            c.log.level = "WARN, throng_server=debug, tower_http::trace, h2[conn]".into()
        }),
        ("port 0 for tests", |c| {
            c.listen = "127.0.0.1:0".parse().unwrap()
        }),
    ];
    for (name, mutate) in cases {
        let mut config = Config::default();
        mutate(&mut config);
        config
            .validate()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}

#[test]
fn the_example_parses_to_the_defaults_and_shows_every_setting() {
    let from_example = load(Some(Config::example_toml()), &[]).unwrap();
    assert_eq!(from_example, Config::default());

    // Every key the defaults serialize must appear, uncommented, in the example, so a new
    // setting cannot be added without documenting it there.
    let example: toml::Table = toml::from_str(Config::example_toml()).unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    fn missing_keys(prefix: &str, wanted: &toml::Table, present: &toml::Table) -> Vec<String> {
        let mut missing = Vec::new();
        for (key, value) in wanted {
            let path = format!("{prefix}{key}");
            match (value, present.get(key)) {
                (_, None) => missing.push(path),
                (toml::Value::Table(inner), Some(toml::Value::Table(present_inner))) => {
                    missing.extend(missing_keys(&format!("{path}."), inner, present_inner))
                }
                _ => {}
            }
        }
        missing
    }
    assert_eq!(missing_keys("", &defaults, &example), Vec::<String>::new());

    // Optional settings appear commented out, with their names spelt right.
    for optional in [
        "# public_url =",
        "# jwt_secret =",
        "# jwt_public_key_file =",
        "# jwt_issuer =",
        "# jwt_audience =",
    ] {
        assert!(Config::example_toml().contains(optional), "{optional}");
    }
}

#[test]
fn public_url_is_configured_or_derived_from_listen() {
    let cases = [
        ("127.0.0.1:7700", None, "http://127.0.0.1:7700"),
        ("0.0.0.0:8080", None, "http://127.0.0.1:8080"),
        ("[::]:8080", None, "http://[::1]:8080"),
        ("[::1]:9", None, "http://[::1]:9"),
        ("10.1.2.3:80", None, "http://10.1.2.3:80"),
        (
            "0.0.0.0:80",
            Some("https://chat.example.com/"),
            "https://chat.example.com",
        ),
        (
            "0.0.0.0:80",
            Some("http://a.example:81/throng"),
            "http://a.example:81/throng",
        ),
    ];
    for (listen, public_url, expected) in cases {
        let config = Config {
            listen: listen.parse().unwrap(),
            public_url: public_url.map(str::to_owned),
            ..Config::default()
        };
        assert_eq!(config.public_url(), expected, "{listen} {public_url:?}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let mut config = Config::default();
    config.auth.jwt_secret = Some("a-very-secret-value-of-32-bytes!!".into());
    config.auth.api_keys = vec![KEY_A.into()];
    let printed = format!("{config:?}");
    assert!(!printed.contains("a-very-secret"), "{printed}");
    assert!(!printed.contains(KEY_A), "{printed}");
    assert!(printed.contains("redacted"), "{printed}");
}

#[test]
fn refusals_never_echo_a_secret() {
    let secret = "s3cr3t-value-0123456789-0123456789";
    type Case = (Option<String>, Vec<(&'static str, String)>);
    let cases: Vec<Case> = vec![
        (None, vec![("THRONG_AUTH__API_KEYS", secret.to_owned())]),
        (
            None,
            vec![("THRONG_AUTH__JWT_SECRET", format!("[\"{secret}\"]"))],
        ),
        (
            None,
            vec![(
                "THRONG_AUTH__API_KEYS",
                format!("[\"{secret}\", \"short\"]"),
            )],
        ),
        (
            Some(format!("[auth]\njwt_secret = [\"{secret}\"]\n")),
            vec![],
        ),
        (
            Some(format!("[auth]\napi_keys = [\"{secret} with spaces\"]\n")),
            vec![],
        ),
    ];
    for (file, env) in cases {
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let error = load(file.as_deref(), &env).expect_err("must be refused");
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
    }
}
