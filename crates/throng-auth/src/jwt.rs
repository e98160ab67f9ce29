//! Client token verification.
//!
//! The verifier accepts exactly one algorithm, the configured one. The token's `alg` header
//! is read only to refuse a token that names another, before any key is used: this is what
//! stops `alg: none` and the RS256 → HS256 confusion attack (an HMAC made with the public
//! key as the secret). jsonwebtoken then checks the signature, `exp` (required), `nbf`
//! (when present), and `iss`/`aud` (when configured); this module maps its errors onto
//! the stable codes of the wire contract and checks the subject.

use crate::error::AuthSetupError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use throng_config::{AuthConfig, JwtAlgorithm, MIN_JWT_SECRET_BYTES};

use crate::dev::DevCredentials;

/// The longest user id (`sub`) accepted, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 128;

/// Tokens longer than this are refused unread, so a huge query string costs no decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a verified token says about its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, 1 to [`MAX_SUBJECT_BYTES`] bytes.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Roles the app's backend grants, e.g. `"system"` for whitelisted senders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// A display name, when the backend puts one in the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The claims as found in a token, before the required ones are known to be there: decoding
/// into this lets jsonwebtoken report a missing `exp` or `sub` by name.
#[derive(Deserialize)]
struct ClaimsAsFound {
    sub: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    #[serde(default)]
    roles: Vec<String>,
    name: Option<String>,
}

/// Why a token was refused. [`AuthError::code`] is the wire code of the 401 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token: pass ?token=<JWT> or an Authorization: Bearer header")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired; get a fresh one")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    #[error("the token is signed with an algorithm this server does not accept")]
    WrongAlgorithm,
    #[error("the token's claims are not accepted: {0}")]
    InvalidClaims(String),
}

impl AuthError {
    /// The stable code sent to the client.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Malformed => "token_malformed",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongAlgorithm => "token_wrong_algorithm",
            AuthError::InvalidClaims(_) => "token_invalid_claims",
        }
    }

    /// A sentence for the client; it says what is wrong, never which key was expected.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Verifies client tokens with the one configured algorithm and key.
#[derive(Clone)]
pub struct JwtVerifier {
    algorithm: JwtAlgorithm,
    key: DecodingKey,
    validation: Validation,
    audience_configured: bool,
}

fn jsonwebtoken_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Es256 => Algorithm::ES256,
    }
}

impl JwtVerifier {
    /// A verifier for `auth`. HS256 uses `auth.jwt_secret`, or else the development
    /// secret in `dev`; RS256 and ES256 read the PEM public key file.
    pub fn new(
        auth: &AuthConfig,
        dev: Option<&DevCredentials>,
    ) -> Result<JwtVerifier, AuthSetupError> {
        let algorithm = auth.jwt_algorithm;
        let key = match algorithm {
            JwtAlgorithm::Hs256 => {
                let secret = auth
                    .jwt_secret
                    .as_deref()
                    .or(dev.map(|dev| dev.jwt_secret.as_str()))
                    .ok_or(AuthSetupError::MissingSecret)?;
                if secret.len() < MIN_JWT_SECRET_BYTES {
                    return Err(AuthSetupError::WeakSecret {
                        got: secret.len(),
                        min: MIN_JWT_SECRET_BYTES,
                    });
                }
                DecodingKey::from_secret(secret.as_bytes())
            }
            JwtAlgorithm::Rs256 => read_public_key(auth, DecodingKey::from_rsa_pem)?,
            JwtAlgorithm::Es256 => read_public_key(auth, DecodingKey::from_ec_pem)?,
        };

        let mut validation = Validation::new(jsonwebtoken_algorithm(algorithm));
        validation.leeway = u64::from(auth.leeway_s);
        validation.validate_exp = true;
        // Off by default in jsonwebtoken 9: a token minted for later must wait.
        validation.validate_nbf = true;
        // jsonwebtoken checks iss and aud only when the token has them, so a configured
        // one must also be required.
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &auth.jwt_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &auth.jwt_audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);

        Ok(JwtVerifier {
            algorithm,
            key,
            validation,
            audience_configured: auth.jwt_audience.is_some(),
        })
    }

    /// The one algorithm this verifier accepts.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Checks `token` and returns its claims. An empty token is [`AuthError::Missing`].
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        if header_algorithm(token)? != self.algorithm.as_str() {
            return Err(AuthError::WrongAlgorithm);
        }
        // The whole header must parse too, so that a JSON error from `decode` below can
        // only come from the claims, which are read after the signature is verified.
        jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let found = jsonwebtoken::decode::<ClaimsAsFound>(token, &self.key, &self.validation)
            .map_err(|error| self.auth_error(error.into_kind()))?
            .claims;

        let (Some(sub), Some(exp)) = (found.sub, found.exp) else {
            // Required above, so jsonwebtoken has already refused a token without them.
            return Err(AuthError::InvalidClaims(
                "sub and exp are required".to_owned(),
            ));
        };
        if sub.is_empty() || sub.len() > MAX_SUBJECT_BYTES {
            return Err(AuthError::InvalidClaims(format!(
                "sub must be 1 to {MAX_SUBJECT_BYTES} bytes, got {}",
                sub.len()
            )));
        }
        Ok(Claims {
            sub,
            exp,
            nbf: found.nbf,
            iat: found.iat,
            roles: found.roles,
            name: found.name,
        })
    }

    fn auth_error(&self, kind: ErrorKind) -> AuthError {
        match kind {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::InvalidAlgorithmName => AuthError::WrongAlgorithm,
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::InvalidClaims(format!("the {claim} claim is required"))
            }
            ErrorKind::InvalidIssuer => {
                AuthError::InvalidClaims("iss is not the configured issuer".to_owned())
            }
            ErrorKind::InvalidAudience if self.audience_configured => {
                AuthError::InvalidClaims("aud does not include the configured audience".to_owned())
            }
            ErrorKind::InvalidAudience => AuthError::InvalidClaims(
                "the token has an aud claim but the server is configured with no audience"
                    .to_owned(),
            ),
            ErrorKind::InvalidSubject => AuthError::InvalidClaims("sub is not accepted".to_owned()),
            // Claims are decoded only after the signature verified (see `verify`).
            ErrorKind::Json(error) => AuthError::InvalidClaims(format!(
                "they do not have the expected shape ({})",
                error
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
            )),
            // A key or signature the crypto layer could not use at all.
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::RsaFailedSigning
            | ErrorKind::Crypto(_) => AuthError::BadSignature,
            // InvalidToken, Base64, Utf8, and kinds added by later versions.
            _ => AuthError::Malformed,
        }
    }
}

/// The `alg` named in the token's header, read without trusting anything else in it. The
/// token must be three base64url parts, whatever the algorithm, so that a mangled token is
/// `Malformed` rather than a bad signature.
fn header_algorithm(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct AlgorithmOnly {
        alg: String,
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AuthError::Malformed)
    };
    decode(payload)?;
    decode(signature)?;
    let bytes = decode(header)?;
    let header: AlgorithmOnly = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    Ok(header.alg)
}

/// Reads the configured PEM public key file with `parse`, the algorithm's PEM reader.
fn read_public_key(
    auth: &AuthConfig,
    parse: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>,
) -> Result<DecodingKey, AuthSetupError> {
    let algorithm = auth.jwt_algorithm;
    let path = auth
        .jwt_public_key_file
        .as_deref()
        .ok_or(AuthSetupError::MissingPublicKey { algorithm })?;
    let pem = std::fs::read(path).map_err(|source| AuthSetupError::ReadPublicKey {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| AuthSetupError::InvalidPublicKey {
        path: path.to_owned(),
        algorithm,
        message,
    };
    // jsonwebtoken would also take an RSA private key here; refusing it keeps the
    // issuer's private key off the chat server.
    if String::from_utf8_lossy(&pem).contains("PRIVATE KEY-----") {
        return Err(invalid(
            "it is a private key; give the public one (openssl pkey -in key.pem -pubout)"
                .to_owned(),
        ));
    }
    parse(&pem).map_err(|error| invalid(error.to_string()))
}

/// Mints an HS256 token for `user`, valid for `ttl` from now, for `throng token` and tests.
pub fn mint_hs256(
    secret: &str,
    user: &str,
    ttl: Duration,
    roles: &[String],
) -> Result<String, AuthSetupError> {
    if user.is_empty() || user.len() > MAX_SUBJECT_BYTES {
        return Err(AuthSetupError::InvalidSubject {
            got: user.len(),
            max: MAX_SUBJECT_BYTES,
        });
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AuthSetupError::Mint("the clock is before 1970".to_owned()))?
        .as_secs();
    let claims = Claims {
        sub: user.to_owned(),
        exp: now.saturating_add(ttl.as_secs()),
        nbf: None,
        iat: Some(now),
        roles: roles.to_vec(),
        name: None,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|error| AuthSetupError::Mint(error.to_string()))
}

/// Written by hand: the key is not printable, and would be secret if it were.
impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("leeway_s", &self.validation.leeway)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}
