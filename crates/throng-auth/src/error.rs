//! Errors of setting up authentication: reading keys, the development credentials file,
//! minting a token. Each `Display`s as one line naming what to fix.

use std::path::PathBuf;
use throng_config::JwtAlgorithm;

/// Authentication could not be set up, or a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("auth: HS256 needs auth.jwt_secret or the development credentials, and has neither")]
    MissingSecret,
    #[error("auth: the HS256 secret must be at least {min} bytes, got {got}")]
    WeakSecret { got: usize, min: usize },
    #[error("auth: auth.jwt_public_key_file is required for {algorithm}")]
    MissingPublicKey { algorithm: JwtAlgorithm },
    #[error("auth: cannot read the public key file {}: {source}", path.display())]
    ReadPublicKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("auth: {} is not a {algorithm} public key in PEM form: {message}", path.display())]
    InvalidPublicKey {
        path: PathBuf,
        algorithm: JwtAlgorithm,
        message: String,
    },
    #[error("dev credentials: cannot {action} {}: {source}", path.display())]
    DevCredentialsIo {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dev credentials: {} is not usable ({message}); delete it to generate new ones", path.display())]
    DevCredentialsInvalid { path: PathBuf, message: String },
    #[error("token: the user id must be 1 to {max} bytes, got {got}")]
    InvalidSubject { got: usize, max: usize },
    #[error("token: cannot sign: {0}")]
    Mint(String),
}
