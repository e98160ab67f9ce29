//! Client JWT verification, server API keys and development credentials.
//!
//! Layout:
//! - `jwt` — [`JwtVerifier`] (one algorithm, fixed by config, never by the token),
//!   [`Claims`], [`AuthError`] with the wire codes of a refused handshake, and
//!   [`mint_hs256`] for `throng token` and tests.
//! - `api_keys` — [`ApiKeys`], compared in constant time.
//! - `dev` — [`DevCredentials`]: a secret and an API key generated once into the data
//!   directory, so `throng serve` works on a fresh machine with no setup.
//! - `error` — [`AuthSetupError`], for everything that can go wrong before the first token.

mod api_keys;
mod dev;
mod error;
mod jwt;

pub use api_keys::ApiKeys;
pub use dev::{DevCredentials, DEV_API_KEY_PREFIX, DEV_CREDENTIALS_FILE};
pub use error::AuthSetupError;
pub use jwt::{mint_hs256, AuthError, Claims, JwtVerifier, MAX_SUBJECT_BYTES, MAX_TOKEN_BYTES};
