//! The API-key check every vendor mock makes, wherever its vendor wants the
//! key: an `Authorization` scheme, a header of its own, a query parameter,
//! or a WebSocket subprotocol.

use axum::http::{header, HeaderMap, Uri};

use super::Kit;

/// One place a vendor takes its key from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlace {
    /// `Authorization: <scheme> <key>` for one of `schemes`; the scheme
    /// compared exactly, or ignoring case when `any_case`.
    Authorization {
        /// The schemes taken (`Bearer`, `Token`).
        schemes: &'static [&'static str],
        /// Whether `bearer` counts as `Bearer`.
        any_case: bool,
    },
    /// A header holding the key alone (`xi-api-key`, `X-API-Key`).
    Header(&'static str),
    /// A query parameter holding the key (`api_key`).
    Query(&'static str),
    /// `Sec-WebSocket-Protocol: <scheme>, <key>` for one of these schemes.
    Subprotocol(&'static [&'static str]),
}

impl KeyPlace {
    /// `Authorization: Bearer <key>`, the scheme spelled exactly so.
    pub const BEARER: Self = Self::Authorization {
        schemes: &["Bearer"],
        any_case: false,
    };
}

/// What a key check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The accepted key, found at `places[place]` (with its scheme, for a
    /// subprotocol the answer echoes).
    Accepted {
        /// The index of the place in the list checked.
        place: usize,
        /// The scheme it came with (`Authorization`, subprotocol).
        scheme: Option<&'static str>,
    },
    /// No place carried a key.
    Missing,
    /// The first place carrying a key carried another one.
    Wrong,
}

impl KeyCheck {
    /// Whether the key was the accepted one.
    pub fn accepted(self) -> bool {
        matches!(self, Self::Accepted { .. })
    }
}

fn scheme_of(
    schemes: &'static [&'static str],
    any_case: bool,
    presented: &str,
) -> Option<&'static str> {
    schemes.iter().copied().find(|s| {
        if any_case {
            s.eq_ignore_ascii_case(presented)
        } else {
            *s == presented
        }
    })
}

/// The key at `place` (and its scheme), if the request carries one there.
fn key_at(
    place: KeyPlace,
    headers: &HeaderMap,
    uri: Option<&Uri>,
) -> Option<(String, Option<&'static str>)> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    match place {
        KeyPlace::Authorization { schemes, any_case } => {
            let (scheme, key) = text(header::AUTHORIZATION.as_str())?.split_once(' ')?;
            let scheme = scheme_of(schemes, any_case, scheme)?;
            Some((key.trim().to_string(), Some(scheme)))
        }
        KeyPlace::Header(name) => text(name).map(|k| (k.to_string(), None)),
        KeyPlace::Query(name) => {
            let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri?).ok()?;
            let (_, key) = pairs.0.into_iter().find(|(n, _)| n == name)?;
            Some((key.trim().to_string(), None))
        }
        KeyPlace::Subprotocol(schemes) => {
            let mut parts = text(header::SEC_WEBSOCKET_PROTOCOL.as_str())?
                .split(',')
                .map(str::trim);
            let scheme = scheme_of(schemes, false, parts.next()?)?;
            Some((parts.next()?.to_string(), Some(scheme)))
        }
    }
}

impl Kit {
    /// Checks the request's key: the first of `places` that carries a key
    /// decides (an `Authorization` with another scheme carries none), and
    /// it must be [`Kit::api_key`] (never empty). `uri` is needed for
    /// [`KeyPlace::Query`] only.
    pub fn check_key(
        &self,
        places: &[KeyPlace],
        headers: &HeaderMap,
        uri: Option<&Uri>,
    ) -> KeyCheck {
        let found = places
            .iter()
            .enumerate()
            .find_map(|(i, p)| key_at(*p, headers, uri).map(|k| (i, k)));
        match found {
            None => KeyCheck::Missing,
            Some((place, (key, scheme))) if !key.is_empty() && key == self.api_key() => {
                KeyCheck::Accepted { place, scheme }
            }
            Some(_) => KeyCheck::Wrong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::echo::EchoMock;
    use crate::kit::Mock;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[tokio::test]
    async fn the_first_place_carrying_a_key_decides() {
        let mock = Mock::start(EchoMock, "k1").await.expect("mock");
        let kit = mock.kit();
        let places = [
            KeyPlace::Authorization {
                schemes: &["Token", "Bearer"],
                any_case: true,
            },
            KeyPlace::Header("x-api-key"),
            KeyPlace::Query("api_key"),
            KeyPlace::Subprotocol(&["token"]),
        ];
        let check = |h: &[(&'static str, &str)], uri: &str| {
            let uri: Uri = uri.parse().expect("uri");
            kit.check_key(&places, &headers(h), Some(&uri))
        };
        let at = |place, scheme| KeyCheck::Accepted { place, scheme };
        assert_eq!(
            check(&[("authorization", "token k1")], "/"),
            at(0, Some("Token"))
        );
        assert_eq!(
            check(&[("authorization", "Basic k1"), ("x-api-key", "k1")], "/"),
            at(1, None)
        );
        assert_eq!(
            check(&[("authorization", "Bearer no"), ("x-api-key", "k1")], "/"),
            KeyCheck::Wrong
        );
        assert_eq!(check(&[], "/?api_key=k1"), at(2, None));
        assert_eq!(
            check(&[("sec-websocket-protocol", "token, k1")], "/"),
            at(3, Some("token"))
        );
        assert_eq!(check(&[], "/"), KeyCheck::Missing);
        let exact = [KeyPlace::BEARER];
        assert!(!kit
            .check_key(&exact, &headers(&[("authorization", "bearer k1")]), None)
            .accepted());
        mock.shutdown().await;
    }
}
