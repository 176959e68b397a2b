//! Bearer-token verification (HS256 shared secret, ES256 public key) and minting of
//! replication and development tokens. What a token grants is `sync_protocol::Claims`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use sync_protocol::{ApiError, Claims, DocPattern, ErrorCode};

use crate::config::Config;

/// Who a verified token speaks for.
#[derive(Debug, Clone)]
pub enum Identity {
    Client(Claims),
    /// A peer region (replication token signed with the cluster key).
    Region(String),
}

pub struct Authenticator {
    client_hs256: Option<DecodingKey>,
    client_es256: Option<DecodingKey>,
    cluster_decode: Option<DecodingKey>,
    cluster_encode: Option<EncodingKey>,
    /// Only in development mode: signs tokens minted by `POST /v1/dev/token`.
    dev_encode: Option<EncodingKey>,
    region: String,
}

/// Body of `POST /v1/dev/token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    pub sub: String,
    #[serde(default)]
    pub read: Vec<DocPattern>,
    #[serde(default)]
    pub write: Vec<DocPattern>,
    #[serde(default = "default_ttl")]
    pub ttl_s: u64,
}

fn default_ttl() -> u64 {
    3600
}

const MAX_DEV_TTL_S: u64 = 7 * 24 * 3600;
const REPLICATION_TTL_S: u64 = 3600;

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the {claim:?} claim"),
        ErrorKind::Json(e) => format!("the token's claims are invalid: {e}"),
        _ => format!("the token is invalid: {e}"),
    }
}

impl Authenticator {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let client_es256 = match &config.jwt_es256_public_key {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read --jwt-es256-public-key {}: {e}", path.display()))?;
                Some(DecodingKey::from_ec_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("--jwt-es256-public-key {} is not a P-256 PEM public key: {e}", path.display())
                })?)
            }
            None => None,
        };
        let cluster = config.cluster_secret();
        Ok(Self {
            client_hs256: config.client_hs256_secret().map(|s| DecodingKey::from_secret(s.as_bytes())),
            client_es256,
            cluster_decode: cluster.map(|s| DecodingKey::from_secret(s.as_bytes())),
            cluster_encode: cluster.map(|s| EncodingKey::from_secret(s.as_bytes())),
            dev_encode: if config.dev { config.client_hs256_secret().map(|s| EncodingKey::from_secret(s.as_bytes())) } else { None },
            region: config.region.clone(),
        })
    }

    /// Verifies the value of an `Authorization` header.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Identity, ApiError> {
        let header = header.ok_or_else(|| unauthenticated("missing Authorization: Bearer <token> header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("the Authorization header must be \"Bearer <token>\""))?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| unauthenticated(describe(&e)))?;
        let decode = |key: &DecodingKey, alg: Algorithm| {
            let mut validation = Validation::new(alg);
            validation.set_required_spec_claims(&["exp", "sub"]);
            validation.leeway = 30;
            jsonwebtoken::decode::<Claims>(token, key, &validation).map(|data| data.claims)
        };
        match header.alg {
            Algorithm::HS256 => {
                let mut last_error = None;
                if let Some(key) = &self.cluster_decode {
                    match decode(key, Algorithm::HS256) {
                        Ok(claims) if claims.repl => return Ok(Identity::Region(claims.sub)),
                        Ok(_) => {}
                        Err(e) => last_error = Some(e),
                    }
                }
                if let Some(key) = &self.client_hs256 {
                    match decode(key, Algorithm::HS256) {
                        Ok(claims) if claims.repl => {
                            return Err(unauthenticated("replication claims in a token not signed with the cluster key"));
                        }
                        Ok(claims) => return Ok(Identity::Client(claims)),
                        Err(e) => last_error = Some(e),
                    }
                }
                Err(unauthenticated(match last_error {
                    Some(e) => describe(&e),
                    None => "HS256 tokens are not accepted by this server".into(),
                }))
            }
            Algorithm::ES256 => {
                let key = self
                    .client_es256
                    .as_ref()
                    .ok_or_else(|| unauthenticated("ES256 tokens are not accepted by this server"))?;
                match decode(key, Algorithm::ES256) {
                    Ok(claims) if claims.repl => Err(unauthenticated("replication claims in a client token")),
                    Ok(claims) => Ok(Identity::Client(claims)),
                    Err(e) => Err(unauthenticated(describe(&e))),
                }
            }
            other => Err(unauthenticated(format!("token algorithm {other:?} is not accepted (HS256 or ES256)"))),
        }
    }

    /// The token this region presents to its peers.
    pub fn replication_token(&self) -> anyhow::Result<String> {
        let key = self.cluster_encode.as_ref().ok_or_else(|| anyhow::anyhow!("no cluster secret configured"))?;
        let claims = Claims {
            sub: self.region.clone(),
            exp: now_s() + REPLICATION_TTL_S,
            iat: Some(now_s()),
            read: Vec::new(),
            write: Vec::new(),
            repl: true,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)?)
    }

    /// Mints a client token in development mode; `None` when not in development mode.
    pub fn mint_dev_token(&self, request: DevTokenRequest) -> Option<Result<String, ApiError>> {
        let key = self.dev_encode.as_ref()?;
        if request.sub.is_empty() {
            return Some(Err(ApiError::new(ErrorCode::InvalidRequest, "sub must not be empty")));
        }
        if request.ttl_s == 0 || request.ttl_s > MAX_DEV_TTL_S {
            return Some(Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("ttl_s must be between 1 and {MAX_DEV_TTL_S}"),
            )));
        }
        let claims = Claims {
            sub: request.sub,
            exp: now_s() + request.ttl_s,
            iat: Some(now_s()),
            read: request.read,
            write: request.write,
            repl: false,
        };
        Some(
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot sign token: {e}"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["region-server", "--region", "us", "--data-dir", "/tmp/unused"];
        all.extend_from_slice(args);
        Config::parse_from(all)
    }

    fn sign(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap()
    }

    #[test]
    fn verifies_client_and_replication_tokens() {
        let auth = Authenticator::from_config(&config(&["--jwt-hs256-secret", "client", "--cluster-secret", "cluster"]))
            .unwrap();
        let exp = now_s() + 60;
        let client = sign("client", serde_json::json!({"sub": "alice", "exp": exp, "write": ["d-*"]}));
        match auth.verify_header(Some(&format!("Bearer {client}"))).unwrap() {
            Identity::Client(claims) => assert!(claims.can_write(&"d-1".parse().unwrap())),
            other => panic!("{other:?}"),
        }
        let repl = auth.replication_token().unwrap();
        assert!(matches!(auth.verify(&repl).unwrap(), Identity::Region(name) if name == "us"));

        // A client key cannot make replication tokens, and bad tokens say why.
        let forged = sign("client", serde_json::json!({"sub": "x", "exp": exp, "repl": true}));
        assert_eq!(auth.verify(&forged).unwrap_err().code, ErrorCode::Unauthenticated);
        let expired = sign("client", serde_json::json!({"sub": "alice", "exp": now_s() - 3600}));
        assert!(auth.verify(&expired).unwrap_err().message.contains("expired"));
        let wrong = sign("other", serde_json::json!({"sub": "alice", "exp": exp}));
        assert!(auth.verify(&wrong).unwrap_err().message.contains("signature"));
        assert!(auth.verify_header(None).is_err());
        assert!(auth.verify_header(Some("Basic abc")).is_err());
        assert!(auth.verify("not.a.jwt").is_err());
        let bad_pattern = sign("client", serde_json::json!({"sub": "a", "exp": exp, "read": ["../x"]}));
        assert!(auth.verify(&bad_pattern).is_err());
    }

    #[test]
    fn dev_tokens_only_in_dev_mode() {
        let dev = Authenticator::from_config(&config(&["--dev"])).unwrap();
        let request = || DevTokenRequest { sub: "demo".into(), read: vec![], write: vec![DocPattern::Any], ttl_s: 60 };
        let token = dev.mint_dev_token(request()).unwrap().unwrap();
        assert!(matches!(dev.verify(&token).unwrap(), Identity::Client(c) if c.sub == "demo"));
        let prod = Authenticator::from_config(&config(&["--jwt-hs256-secret", "s"])).unwrap();
        assert!(prod.mint_dev_token(request()).is_none());
    }
}
