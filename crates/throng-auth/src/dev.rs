//! Development credentials: an HS256 secret and a server API key, generated once into the
//! data directory and reused on every later run, so tokens minted yesterday still verify.
//!
//! The file is created with `create_new`, so two servers starting at once on the same
//! data directory cannot each write their own secret: the loser of the race reads the
//! winner's file. On Unix it is readable by its owner only (mode 0600).

use crate::error::AuthSetupError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use throng_config::{MIN_API_KEY_CHARS, MIN_JWT_SECRET_BYTES};

/// The file, inside the data directory, that holds the development credentials.
pub const DEV_CREDENTIALS_FILE: &str = "dev-credentials.json";

/// Development API keys start with this, so a leaked one is recognisable in a scan.
pub const DEV_API_KEY_PREFIX: &str = "thr_";

/// Random bytes behind the secret and behind the API key.
const RANDOM_BYTES: usize = 32;

/// A development HS256 secret and server API key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevCredentials {
    pub jwt_secret: String,
    pub api_key: String,
}

fn random_text() -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DevCredentials {
    /// Fresh credentials from the operating system's random source.
    pub fn generate() -> DevCredentials {
        DevCredentials {
            jwt_secret: random_text(),
            api_key: format!("{DEV_API_KEY_PREFIX}{}", random_text()),
        }
    }

    /// Where the credentials of `data_dir` live.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(DEV_CREDENTIALS_FILE)
    }

    /// The credentials kept in `data_dir`, or `None` when there are none yet.
    pub fn load(data_dir: &Path) -> Result<Option<DevCredentials>, AuthSetupError> {
        let path = DevCredentials::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(AuthSetupError::DevCredentialsIo {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let invalid = |message: String| AuthSetupError::DevCredentialsInvalid {
            path: path.clone(),
            message,
        };
        let credentials: DevCredentials =
            serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if credentials.jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(invalid(format!(
                "jwt_secret is shorter than {MIN_JWT_SECRET_BYTES} bytes"
            )));
        }
        if credentials.api_key.chars().count() < MIN_API_KEY_CHARS {
            return Err(invalid(format!(
                "api_key is shorter than {MIN_API_KEY_CHARS} characters"
            )));
        }
        Ok(Some(credentials))
    }

    /// The credentials kept in `data_dir`, generated and written there first when there
    /// are none (the directory is created if needed).
    pub fn load_or_create(data_dir: &Path) -> Result<DevCredentials, AuthSetupError> {
        if let Some(existing) = DevCredentials::load(data_dir)? {
            return Ok(existing);
        }
        std::fs::create_dir_all(data_dir).map_err(|source| AuthSetupError::DevCredentialsIo {
            action: "create the data directory",
            path: data_dir.to_owned(),
            source,
        })?;
        let credentials = DevCredentials::generate();
        match credentials.write_new(&DevCredentials::path(data_dir)) {
            Ok(()) => Ok(credentials),
            // Another process created the file between our load and our write: use theirs.
            Err(AuthSetupError::DevCredentialsIo { source, .. })
                if source.kind() == ErrorKind::AlreadyExists =>
            {
                DevCredentials::load(data_dir)?.ok_or_else(|| {
                    AuthSetupError::DevCredentialsInvalid {
                        path: DevCredentials::path(data_dir),
                        message: "it vanished while being read".to_owned(),
                    }
                })
            }
            Err(error) => Err(error),
        }
    }

    /// Writes a file that must not exist yet, owner-only on Unix. A failed write removes
    /// the partial file so the next start generates again instead of reading half a file.
    fn write_new(&self, path: &Path) -> Result<(), AuthSetupError> {
        let io_error = |source| AuthSetupError::DevCredentialsIo {
            action: "write",
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_error)?;
        let mut text = serde_json::to_string_pretty(self).expect("two strings always serialize");
        text.push('\n');
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(source) = written {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(io_error(source));
        }
        Ok(())
    }
}

/// Written by hand so that the credentials never reach a log.
impl fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DevCredentials(<redacted>)")
    }
}
