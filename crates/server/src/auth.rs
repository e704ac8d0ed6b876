//! Access control primitives for the relay.
//!
//! Two kinds of credential reach the relay:
//!
//! * **API tokens** ([`ApiToken`]) from the server's configuration, presented by
//!   server-side clients as `Authorization: Bearer <token>` ([`bearer_token`],
//!   [`find_api_token`]).
//! * **Browser tokens**: short-lived, HMAC-SHA256-signed tokens bound to an
//!   origin and an expiry ([`BrowserClaims`], [`mint`], [`verify`]). A server-side
//!   client mints one with `POST /v1/tokens` and hands it to a page, which passes it
//!   as a query parameter or, like xAI's ephemeral client secrets, as the WebSocket
//!   subprotocol `xai-client-secret.<token>` ([`token_from_subprotocols`]), because
//!   browsers cannot set an `Authorization` header on a WebSocket. The page's
//!   `Origin` must also be on the allowlist ([`origin_allowed`]).
//!
//! Everything here takes input straight from the network and never panics on it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use voxwire_core::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The subprotocol prefix under which a browser passes its token, as xAI does for
/// its client secrets; the server echoes the chosen item back in its handshake.
pub const SUBPROTOCOL_PREFIX: &str = "xai-client-secret.";

/// Longest browser token [`verify`] looks at, so a hostile client cannot make the
/// relay hash or decode megabytes; real tokens are a few hundred bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Domain separation for the MAC, so a signature made with the same key for any
/// other purpose can never pass as a browser token.
const MAC_CONTEXT: &[u8] = b"voxwire-browser-token/v1\n";

/// A server API token from the configuration, for server-side clients.
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// A label for logs and metrics (the secret itself is never logged).
    pub id: String,
    /// The token clients present as `Authorization: Bearer <secret>`.
    pub secret: Secret,
}

/// The token of an `Authorization: Bearer <token>` header value, so handlers need
/// not parse the header themselves.
///
/// The scheme is matched case-insensitively and surrounding whitespace is trimmed;
/// a missing header, another scheme, an empty token or a token with inner
/// whitespace gives `None`.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    Some(token)
}

/// The configured API token equal to `presented`, found without leaking through
/// timing which token matched, how many characters matched, or their lengths.
///
/// Both sides are hashed with SHA-256 and the digests compared in constant time
/// against every configured token, without stopping at a match. An empty
/// presented token never matches, and tokens configured with an empty secret are
/// never matched (an unset secret must not open the door). Should two tokens share
/// a secret (a configuration mistake), the first one is returned.
pub fn find_api_token<'a>(presented: &str, tokens: &'a [ApiToken]) -> Option<&'a ApiToken> {
    if presented.is_empty() {
        return None;
    }
    let presented_digest = Sha256::digest(presented.as_bytes());
    let mut found = subtle::Choice::from(0u8);
    let mut index = 0u64;
    for (i, token) in tokens.iter().enumerate() {
        let configured = token.secret.expose();
        // Whether a secret is set is configuration, not the secret: fine to branch on.
        let usable = subtle::Choice::from(u8::from(!configured.is_empty()));
        let digest = Sha256::digest(configured.as_bytes());
        let hit = digest.as_slice().ct_eq(presented_digest.as_slice()) & usable;
        // Remember the first match only, still without branching on it.
        let take = hit & !found;
        index = u64::conditional_select(&index, &(i as u64), take);
        found |= hit;
    }
    if bool::from(found) {
        usize::try_from(index).ok().and_then(|i| tokens.get(i))
    } else {
        None
    }
}

/// What a browser token grants: a page on `origin` may use the relay until
/// `expires_at`, on behalf of the API token `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserClaims {
    /// The serialized origin (`scheme://host[:port]`) the token is bound to.
    pub origin: String,
    /// Unix seconds at which the token stops being accepted.
    pub expires_at: u64,
    /// Who the token speaks for, for logs, metrics and limits:
    /// `<minting token id>/<sub>`, where `sub` is the backend's choice (its
    /// user id) or random, so each browser user has limits of its own.
    pub subject: String,
}

/// Why a browser token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this relay could have minted (wrong shape, too long, bad base64 or JSON).
    Malformed,
    /// The signature does not match: the token was altered or signed with another key.
    BadSignature,
    /// The token was genuine but its expiry has passed.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => {
                "the browser token is malformed: pass the token exactly as POST /v1/tokens returned it"
            }
            Self::BadSignature => {
                "the browser token's signature is invalid: it was altered or minted by another server"
            }
            Self::Expired => "the browser token has expired: mint a new one with POST /v1/tokens",
        })
    }
}

impl std::error::Error for TokenError {}

/// The keyed MAC over a token's payload segment.
///
/// HMAC accepts keys of any length, so construction cannot fail; `None` exists only
/// so that this file holds no `unwrap`.
fn payload_mac(key: &Secret, payload_b64: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key.expose().as_bytes()).ok()?;
    mac.update(MAC_CONTEXT);
    mac.update(payload_b64.as_bytes());
    Some(mac)
}

/// Signs `claims` into a browser token: `base64url(json) "." base64url(hmac)`.
///
/// The token uses only `[A-Za-z0-9_.-]`, so it can go unescaped into a URL query
/// and into a `Sec-WebSocket-Protocol` value. The MAC covers the encoded payload,
/// so [`verify`] checks it before decoding anything.
pub fn mint(key: &Secret, claims: &BrowserClaims) -> String {
    // Serializing two strings and an integer cannot fail; an empty payload would
    // simply never verify.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let signature = match payload_mac(key, &payload) {
        Some(mac) => URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
        None => String::new(),
    };
    format!("{payload}.{signature}")
}

/// Whether every byte of `s` may appear in a base64url (no padding) segment.
fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a browser token and returns its claims, so the relay can then check the
/// origin and attribute the session.
///
/// In order: the length (at most [`MAX_TOKEN_LEN`]) and shape, then the signature
/// in constant time, and only then the JSON, then the expiry (`now_unix >=
/// expires_at` is expired). With an empty key nothing verifies.
pub fn verify(key: &Secret, token: &str, now_unix: u64) -> Result<BrowserClaims, TokenError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.is_empty()
        || signature.is_empty()
        || !is_base64url(payload)
        || !is_base64url(signature)
    {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    if key.expose().is_empty() {
        return Err(TokenError::BadSignature);
    }
    let mac = payload_mac(key, payload).ok_or(TokenError::BadSignature)?;
    // `verify_slice` compares in constant time and refuses a wrong length.
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: BrowserClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    if now_unix >= claims.expires_at {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// [`verify`] against each of `keys` (rotation: old tokens stay good while
/// their key is listed). A signature that matches no key is `BadSignature`.
pub fn verify_any(
    keys: &[Secret],
    token: &str,
    now_unix: u64,
) -> Result<BrowserClaims, TokenError> {
    let mut worst = TokenError::BadSignature;
    for key in keys {
        match verify(key, token, now_unix) {
            Ok(claims) => return Ok(claims),
            Err(TokenError::BadSignature) => {}
            Err(e) => worst = e,
        }
    }
    if keys.is_empty() {
        return verify(&Secret::new(""), token, now_unix);
    }
    Err(worst)
}

/// The browser token in a `Sec-WebSocket-Protocol` header value, so the relay can
/// authenticate a browser WebSocket (which cannot send `Authorization`).
///
/// The value is a comma-separated list; items are trimmed, and the first item that
/// starts with [`SUBPROTOCOL_PREFIX`] (case-sensitive, as subprotocol names are)
/// and has a non-empty remainder gives the token. The server must echo
/// `SUBPROTOCOL_PREFIX + token` back as the selected subprotocol.
pub fn token_from_subprotocols(header: Option<&str>) -> Option<&str> {
    header?
        .split(',')
        .map(str::trim)
        .filter_map(|item| item.strip_prefix(SUBPROTOCOL_PREFIX))
        .find(|token| !token.is_empty())
}

/// `origin` in the serialized form browsers send (`scheme://host[:port]`, lower
/// case, default port omitted), or `None` if it is not a tuple origin. Parsed
/// by the `url` crate; anything past the authority (a path other than `/`, a
/// query, a fragment, user info) makes it not an origin.
fn normalize_origin(origin: &str) -> Option<String> {
    let parsed = url::Url::parse(origin.trim()).ok()?;
    if parsed.path() != "/" && !parsed.path().is_empty()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    // The raw text must not hide a second slash (`https://h//`) that the parser folded.
    let rest = origin.trim().split_once("://")?.1;
    if rest.matches('/').count() > 1 || rest.contains('\\') {
        return None;
    }
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// Whether `origin` is a page served from this machine (`localhost`,
/// 127.0.0.0/8 or `::1`, any port, http or https): the default allowlist.
pub fn is_loopback_origin(origin: &str) -> bool {
    let Some(normal) = normalize_origin(origin) else {
        return false;
    };
    let Ok(parsed) = url::Url::parse(&normal) else {
        return false;
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return false;
    }
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a page on `origin` may use the relay under `allowlist`, where an
/// empty list means loopback origins only ([`is_loopback_origin`]).
pub fn origin_permitted(origin: &str, allowlist: &[String]) -> bool {
    if allowlist.is_empty() {
        is_loopback_origin(origin)
    } else {
        origin_allowed(origin, allowlist)
    }
}

/// Whether a page on `origin` (the `Origin` request header) may use the relay.
///
/// An exact match of the serialized origin `scheme://host[:port]` against an entry
/// of `allowlist`: scheme and host compare case-insensitively, a trailing `/` is
/// ignored, and an explicit default port (`:443` for https, `:80` for http) equals
/// none, as browsers omit it. Anything else differs: another scheme, port or
/// subdomain, or a path. An empty allowlist allows nothing, and the opaque origin
/// `null` is never allowed. Wildcards are deliberately unsupported: `"*"` is not
/// special and matches nothing, so every allowed site is listed explicitly.
pub fn origin_allowed(origin: &str, allowlist: &[String]) -> bool {
    let Some(origin) = normalize_origin(origin) else {
        return false;
    };
    allowlist
        .iter()
        .any(|entry| normalize_origin(entry).as_deref() == Some(origin.as_str()))
}

/// Whether the relay listens only on loopback (127.0.0.0/8, `::1`, or
/// `::ffff:127.x.y.z`), the only place it agrees to run in its open (no-auth) dev mode.
pub fn is_loopback_listen(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Secret {
        Secret::new("relay-signing-key-for-tests")
    }

    fn claims() -> BrowserClaims {
        BrowserClaims {
            origin: "https://app.example.com".into(),
            expires_at: 1_700_000_600,
            subject: "web-frontend".into(),
        }
    }

    const NOW: u64 = 1_700_000_000;

    /// A small deterministic PRNG (xorshift64*), so the fuzz test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mint_verify_round_trip() {
        let token = mint(&key(), &claims());
        assert_eq!(verify(&key(), &token, NOW), Ok(claims()));
        // One second before expiry is still fine.
        assert_eq!(verify(&key(), &token, 1_700_000_599), Ok(claims()));
    }

    #[test]
    fn round_trip_with_awkward_claims() {
        let awkward = BrowserClaims {
            origin: "http://[::1]:8080".into(),
            expires_at: u64::MAX,
            subject: "ünïcødé \"quoted\" \\ and\nnewline".into(),
        };
        let token = mint(&key(), &awkward);
        assert_eq!(verify(&key(), &token, NOW), Ok(awkward));
    }

    #[test]
    fn token_charset_is_url_and_subprotocol_safe() {
        let token = mint(&key(), &claims());
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')));
        assert_eq!(token.matches('.').count(), 1);
        // It survives the subprotocol round trip unchanged.
        let header = format!("chat, {SUBPROTOCOL_PREFIX}{token}");
        assert_eq!(token_from_subprotocols(Some(&header)), Some(token.as_str()));
    }

    #[test]
    fn mac_matches_plain_hmac_sha256() {
        // The signature is standard HMAC-SHA256 over context + payload segment.
        let token = mint(&key(), &claims());
        let (payload, signature) = token.split_once('.').unwrap();
        let mut mac = HmacSha256::new_from_slice(b"relay-signing-key-for-tests").unwrap();
        mac.update(b"voxwire-browser-token/v1\n");
        mac.update(payload.as_bytes());
        let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(signature, expected);
        let json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let parsed: BrowserClaims = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed, claims());
    }

    #[test]
    fn tampered_payload_is_bad_signature() {
        let token = mint(&key(), &claims());
        let (payload, signature) = token.split_once('.').unwrap();
        // Re-sign nothing: swap in other (well-formed) claims under the old signature.
        let forged_claims = BrowserClaims {
            expires_at: u64::MAX,
            ..claims()
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
        let forged = format!("{forged_payload}.{signature}");
        assert_eq!(verify(&key(), &forged, NOW), Err(TokenError::BadSignature));
        // Flipping any single payload character is caught too.
        for i in 0..payload.len() {
            let mut bytes = payload.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = format!("{}.{signature}", String::from_utf8(bytes).unwrap());
            assert_eq!(
                verify(&key(), &altered, NOW),
                Err(TokenError::BadSignature),
                "position {i}"
            );
        }
    }

    #[test]
    fn tampered_signature_is_bad_signature() {
        let token = mint(&key(), &claims());
        let (payload, signature) = token.split_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        for i in 0..raw.len() {
            let mut altered = raw.clone();
            altered[i] ^= 0x01;
            let t = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&altered));
            assert_eq!(verify(&key(), &t, NOW), Err(TokenError::BadSignature));
        }
        // Truncated or extended signatures (still valid base64) are refused too.
        let short = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&raw[..31]));
        assert_eq!(verify(&key(), &short, NOW), Err(TokenError::BadSignature));
        let mut longer = raw.clone();
        longer.push(0);
        let long = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&longer));
        assert_eq!(verify(&key(), &long, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn wrong_key_is_bad_signature() {
        let token = mint(&key(), &claims());
        let other = Secret::new("another-relay-key");
        assert_eq!(verify(&other, &token, NOW), Err(TokenError::BadSignature));
        assert_eq!(
            verify(&Secret::new(""), &token, NOW),
            Err(TokenError::BadSignature)
        );
        // Even a token minted with an empty key does not verify with it.
        let empty = mint(&Secret::new(""), &claims());
        assert_eq!(
            verify(&Secret::new(""), &empty, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn expired_at_and_after_expiry() {
        let token = mint(&key(), &claims());
        assert_eq!(
            verify(&key(), &token, 1_700_000_600),
            Err(TokenError::Expired)
        );
        assert_eq!(verify(&key(), &token, u64::MAX), Err(TokenError::Expired));
        let zero = mint(
            &key(),
            &BrowserClaims {
                expires_at: 0,
                ..claims()
            },
        );
        assert_eq!(verify(&key(), &zero, 0), Err(TokenError::Expired));
    }

    #[test]
    fn expiry_is_checked_after_signature() {
        // A forged token with a past expiry says BadSignature, not Expired.
        let token = mint(&key(), &claims());
        assert_eq!(
            verify(&Secret::new("x"), &token, u64::MAX),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_inputs() {
        let token = mint(&key(), &claims());
        let (payload, signature) = token.split_once('.').unwrap();
        let oversize = format!("{}.{signature}", "A".repeat(MAX_TOKEN_LEN));
        let cases = [
            String::new(),
            ".".into(),
            format!("{payload}."),
            format!(".{signature}"),
            format!("{payload}{signature}"),
            format!("{payload}.{signature}.{signature}"),
            format!("{payload}={signature}"),
            format!("{payload}.{signature}="),
            format!("{payload}.{signature}=="),
            format!("{payload}.{}", "!".repeat(43)),
            format!("{payload}.A"), // impossible base64 length
            format!("{payload} .{signature}"),
            format!("{payload}.{signature}\n"),
            "not a token".into(),
            "ünïcødé.ünïcødé".into(),
            oversize,
        ];
        for case in &cases {
            assert_eq!(
                verify(&key(), case, NOW),
                Err(TokenError::Malformed),
                "{case:?}"
            );
        }
    }

    #[test]
    fn signed_garbage_payload_is_malformed() {
        // A correctly signed payload that is not claims JSON: Malformed after the MAC.
        for json in [&b"not json"[..], b"{}", b"[1,2]", b"{\"origin\":1}", b""] {
            let payload = URL_SAFE_NO_PAD.encode(json);
            if payload.is_empty() {
                continue;
            }
            let mac = payload_mac(&key(), &payload).unwrap();
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            let token = format!("{payload}.{sig}");
            assert_eq!(verify(&key(), &token, NOW), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn random_strings_never_panic_or_verify() {
        let alphabet: Vec<char> = "ABCxyz019-_.=+/ \t\n\"\\{}:,é€\u{0}\u{10FFFF}"
            .chars()
            .collect();
        let genuine = mint(&key(), &claims());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..5000 {
            let s: String = if round % 3 == 0 {
                // Mutations of a genuine token.
                let mut chars: Vec<char> = genuine.chars().collect();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(chars.len());
                    match rng.below(3) {
                        0 => chars[at] = alphabet[rng.below(alphabet.len())],
                        1 => {
                            chars.remove(at);
                        }
                        _ => chars.insert(at, alphabet[rng.below(alphabet.len())]),
                    }
                }
                chars.into_iter().collect()
            } else {
                let len = rng.below(if round % 50 == 1 { 6000 } else { 120 });
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            };
            if s == genuine {
                continue;
            }
            let result = verify(&key(), &s, NOW);
            assert!(result.is_err(), "{s:?} verified");
            let _ = token_from_subprotocols(Some(&s));
            let _ = bearer_token(Some(&s));
            let _ = origin_allowed(&s, std::slice::from_ref(&s));
        }
    }

    #[test]
    fn error_messages_are_human() {
        assert_eq!(
            TokenError::Expired.to_string(),
            "the browser token has expired: mint a new one with POST /v1/tokens"
        );
        assert!(TokenError::Malformed.to_string().contains("malformed"));
        assert!(TokenError::BadSignature.to_string().contains("signature"));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("BEARER abc")), Some("abc"));
        assert_eq!(
            bearer_token(Some("  Bearer   abc.def-_  ")),
            Some("abc.def-_")
        );
        assert_eq!(bearer_token(Some("Bearer\tabc")), Some("abc"));
        assert_eq!(bearer_token(None), None);
        assert_eq!(bearer_token(Some("")), None);
        assert_eq!(bearer_token(Some("Bearer")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(Some("Bearer    ")), None);
        assert_eq!(bearer_token(Some("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer_token(Some("Bearerabc")), None);
        assert_eq!(bearer_token(Some("Bearer abc def")), None);
        assert_eq!(bearer_token(Some("abc")), None);
    }

    fn tokens() -> Vec<ApiToken> {
        vec![
            ApiToken {
                id: "unset".into(),
                secret: Secret::new(""),
            },
            ApiToken {
                id: "backend".into(),
                secret: Secret::new("vx_backend_0123456789"),
            },
            ApiToken {
                id: "ci".into(),
                secret: Secret::new("vx_ci_abcdef"),
            },
        ]
    }

    #[test]
    fn find_api_token_matches_exactly() {
        let tokens = tokens();
        let found = |p: &str| find_api_token(p, &tokens).map(|t| t.id.as_str());
        assert_eq!(found("vx_backend_0123456789"), Some("backend"));
        assert_eq!(found("vx_ci_abcdef"), Some("ci"));
        assert_eq!(found("vx_backend_012345678"), None);
        assert_eq!(found("vx_backend_0123456789X"), None);
        assert_eq!(found("vx_ci_"), None);
        assert_eq!(found("vx_ci_abcdeF"), None);
        assert_eq!(found(" vx_ci_abcdef"), None);
        assert_eq!(found(""), None);
        assert_eq!(find_api_token("vx_ci_abcdef", &[]).map(|t| &t.id), None);
    }

    #[test]
    fn find_api_token_prefers_first_of_duplicates() {
        // Duplicate secrets are a config error, but the answer is still deterministic.
        let mut tokens = tokens();
        tokens.push(ApiToken {
            id: "ci-again".into(),
            secret: Secret::new("vx_ci_abcdef"),
        });
        let id = find_api_token("vx_ci_abcdef", &tokens).map(|t| t.id.as_str());
        assert_eq!(id, Some("ci"));
    }

    #[test]
    fn api_token_debug_hides_secret() {
        let printed = format!("{:?}", tokens()[1]);
        assert!(printed.contains("backend"));
        assert!(!printed.contains("0123456789"));
    }

    #[test]
    fn subprotocol_parsing() {
        assert_eq!(
            token_from_subprotocols(Some("xai-client-secret.abc")),
            Some("abc")
        );
        assert_eq!(
            token_from_subprotocols(Some("chat,  xai-client-secret.abc.def , other")),
            Some("abc.def")
        );
        assert_eq!(
            token_from_subprotocols(Some(
                "xai-client-secret., xai-client-secret.first,xai-client-secret.second"
            )),
            Some("first")
        );
        assert_eq!(
            token_from_subprotocols(Some("\txai-client-secret.t\t")),
            Some("t")
        );
        assert_eq!(token_from_subprotocols(Some("chat, superchat")), None);
        assert_eq!(token_from_subprotocols(Some("xai-client-secret")), None);
        assert_eq!(token_from_subprotocols(Some("XAI-CLIENT-SECRET.abc")), None);
        assert_eq!(token_from_subprotocols(Some("")), None);
        assert_eq!(token_from_subprotocols(Some(" , ,")), None);
        assert_eq!(token_from_subprotocols(None), None);
    }

    #[test]
    fn origin_matching() {
        let list: Vec<String> = vec![
            "https://app.example.com".into(),
            "http://localhost:8080/".into(),
            "HTTPS://Shop.Example.COM:443".into(),
            "*".into(),
            "https://docs.example.com/path".into(),
        ];
        let ok = |o: &str| origin_allowed(o, &list);
        assert!(ok("https://app.example.com"));
        assert!(ok("https://app.example.com/"));
        assert!(ok("HTTPS://APP.EXAMPLE.COM"));
        assert!(ok(" https://app.example.com "));
        assert!(ok("http://localhost:8080"));
        assert!(ok("http://LOCALHOST:8080/"));
        assert!(ok("https://shop.example.com"));
        assert!(ok("https://shop.example.com:443"));
        // Scheme, port and host must match.
        assert!(!ok("http://app.example.com"));
        assert!(!ok("https://app.example.com:8443"));
        assert!(!ok("https://app.example.com:443x"));
        assert!(!ok("http://localhost"));
        assert!(!ok("http://localhost:8081"));
        assert!(!ok("https://localhost:8080"));
        assert!(!ok("https://evil.app.example.com"));
        assert!(!ok("https://app.example.com.evil.com"));
        assert!(!ok("https://app.example.com//"));
        assert!(!ok("https://user@app.example.com"));
        // No wildcards, no paths, no opaque origins.
        assert!(!ok("*"));
        assert!(!ok("https://anything.example.org"));
        assert!(!ok("https://docs.example.com"));
        assert!(!ok("https://docs.example.com/path"));
        assert!(!ok("null"));
        assert!(!ok(""));
        assert!(!origin_allowed("null", &["null".to_string()]));
        // An empty allowlist allows nothing.
        assert!(!origin_allowed("https://app.example.com", &[]));
    }

    #[test]
    fn origin_default_ports() {
        let list = vec!["http://example.com:80".to_string()];
        assert!(origin_allowed("http://example.com", &list));
        assert!(!origin_allowed("https://example.com", &list));
        let list = vec!["http://[::1]:3000".to_string()];
        assert!(origin_allowed("http://[::1]:3000", &list));
        assert!(!origin_allowed("http://[::1]", &list));
    }

    #[test]
    fn loopback_listen() {
        let yes = [
            "127.0.0.1:8080",
            "127.1.2.3:1",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ];
        let no = [
            "0.0.0.0:8080",
            "192.168.1.10:8080",
            "10.0.0.1:80",
            "[::]:8080",
            "[fe80::1]:80",
            "[::ffff:10.0.0.1]:80",
            "128.0.0.1:80",
        ];
        for a in yes {
            assert!(is_loopback_listen(&a.parse().unwrap()), "{a}");
        }
        for a in no {
            assert!(!is_loopback_listen(&a.parse().unwrap()), "{a}");
        }
    }
}
