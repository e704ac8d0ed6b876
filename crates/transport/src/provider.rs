//! The network provider written once: [`NetworkProvider<V>`] implements
//! [`TtsProvider`] for any vendor `V` from what the vendor states in
//! [`NetworkVendor`]: its settings, its streaming [`Dialect`], its REST
//! request, a capabilities [`Table`], its voices, its error rules and the
//! doctor's words. The pool, the timeouts, the transport choice, sessions,
//! pre-warming and the doctor's steps are here.
//!
//! A vendor crate writes a marker type and the trait, then names the
//! provider by alias and registers it:
//!
//! ```ignore
//! #[derive(Clone)]
//! pub struct Acme;
//!
//! impl NetworkVendor for Acme {
//!     const VENDOR: Vendor = VENDOR;          // variables, path, defaults
//!     const TABLE: Table = TABLE;             // formats, languages, limits
//!     const ADVICE: Advice = Advice::of(&VENDOR);
//!     const NAME: &'static str = "AcmeProvider";
//!     const AUTH_SCHEME: &'static str = "Bearer";
//!     type Settings = AcmeSettings;           // from `network_settings!`
//!     type Dialect = AcmeDialect;             // or `NoSocket` for REST only
//!     type State = ();
//!     fn dialect(s: AcmeSettings, r: Arc<Resolved>) -> AcmeDialect { AcmeDialect { s, r } }
//!     fn native(s: &AcmeSettings) -> AudioFormat { todo!() }
//!     fn rest(p: &NetworkProvider<Self>, v: &Voicing, text: &str) -> Result<RequestBuilder> { todo!() }
//! }
//!
//! pub type AcmeProvider = NetworkProvider<Acme>;
//!
//! voxwire_transport::register_network_provider! {
//!     vendor: Acme,
//!     describe: "Acme text-to-speech; needs ACME_API_KEY",
//!     priority: 120,
//! }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use voxwire_core::diagnose::Report;
use voxwire_core::session::{StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, Extensions, Result,
    SynthesisRequest, TtsError, TtsProvider, Voice,
};

use crate::chunker::Chunker;
use crate::dialect::{CancelPlan, Decoded, Dialect, Frame, Outgoing, Voicing};
use crate::doctor::{Advice, SocketDoctor};
use crate::http::HttpFailure;
use crate::settings::{Resolved, Shared, Transport, Vendor};
use crate::stream::stream_body;
use crate::{http, NetworkCore, UpgradeRequest};

/// What a vendor offers, as plain data.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Whether the vendor has a streaming socket (`false`: REST only, with
    /// [`NoSocket`] as the dialect; `synthesize` always takes REST).
    pub socket: bool,
    /// Each encoding offered, with the sample rates it is offered at (mono).
    pub formats: &'static [(Encoding, &'static [u32])],
    /// What is asked of the vendor for a format it does not offer (converted locally).
    pub fallback: AudioFormat,
    /// Languages (BCP-47) it speaks.
    pub languages: &'static [&'static str],
    /// The most characters one request (or socket utterance) may carry.
    pub max_text_chars: usize,
    /// The most characters one REST request may carry; longer texts take the socket.
    pub max_rest_chars: usize,
    /// The speaking-rate multipliers it accepts.
    pub speed_range: Option<(f32, f32)>,
    /// Whether chunks carry the vendor's times.
    pub timestamps: bool,
    /// Whether `stream` takes text incrementally.
    pub streaming_input: bool,
}

impl Table {
    /// The sample rates `encoding` is offered at (none when it is not offered).
    pub fn rates(&self, encoding: Encoding) -> &'static [u32] {
        self.formats
            .iter()
            .find(|(e, _)| *e == encoding)
            .map_or(&[], |(_, rates)| rates)
    }

    /// The format asked of the vendor for `target`: the same when the vendor
    /// offers it, else [`fallback`](Self::fallback).
    pub fn wire(&self, target: AudioFormat) -> AudioFormat {
        if target.channels == 1 && self.rates(target.encoding).contains(&target.sample_rate) {
            target
        } else {
            self.fallback
        }
    }

    /// Fits a request's voicing to the table, before any network call: its
    /// language (BCP-47, `auto` or none for the vendor's default) becomes
    /// the table's spelling of it or is refused as `Unsupported`, and a
    /// speed outside [`speed_range`](Self::speed_range) is refused, for this
    /// request only.
    pub fn fit(&self, provider: &'static str, voicing: &mut Voicing) -> Result<()> {
        voicing.language = match voicing.language.as_deref() {
            Some(tag) if !voxwire_core::language::is_auto(tag) => {
                let i = voxwire_core::language::lookup(tag, self.languages)
                    .ok_or_else(|| voxwire_core::language::unsupported(tag, provider))?;
                Some(self.languages[i].to_string())
            }
            _ => None,
        };
        match (voicing.speed, self.speed_range) {
            (Some(speed), Some((lo, hi))) if !(lo..=hi).contains(&speed) => Err(TtsError::new(
                ErrorKind::Unsupported,
                format!("{provider} speaks at {lo} to {hi}, not {speed}"),
            )
            .with_provider(provider)
            .with_scope(voxwire_core::ErrorScope::Request)),
            _ => Ok(()),
        }
    }

    /// What the provider reports, with `native` its default format.
    pub fn capabilities(&self, native: AudioFormat) -> Capabilities {
        let mut rates: Vec<u32> = self
            .formats
            .iter()
            .flat_map(|(_, r)| r.iter())
            .copied()
            .collect();
        rates.push(native.sample_rate);
        rates.sort_unstable();
        rates.dedup();
        Capabilities {
            streaming_input: self.streaming_input,
            encodings: self.formats.iter().map(|(e, _)| *e).collect(),
            sample_rates: rates,
            native_format: native,
            languages: self.languages.iter().map(|l| l.to_string()).collect(),
            max_text_chars: self.max_text_chars,
            timestamps: self.timestamps,
            speed_range: self.speed_range,
        }
    }
}

/// A REST answer accepted (a success status), for the vendor to read
/// ([`NetworkVendor::answer`]).
#[derive(Debug)]
pub struct Answer {
    /// The answer, its body unread.
    pub response: reqwest::Response,
    /// Just before the request was sent (the first-audio deadline counts from it).
    pub started: Instant,
    /// What was asked of the vendor.
    pub voicing: Voicing,
    /// The format the caller asked for (`None`: the provider's choice).
    pub requested: Option<AudioFormat>,
    /// The text spoken (chunks carry spans of it).
    pub text: String,
}

/// The parts of a vendor's provider, held once in an `Arc`.
pub type Core<V> = NetworkCore<
    <V as NetworkVendor>::Settings,
    <V as NetworkVendor>::Dialect,
    <V as NetworkVendor>::State,
>;

/// What a vendor states for [`NetworkProvider`] to speak through it,
/// implemented on a marker type (`Clone`, so that its provider is).
pub trait NetworkVendor: Clone + Send + Sync + 'static {
    /// Its variables, path and default limits (the settings' vendor).
    const VENDOR: Vendor;
    /// What it offers.
    const TABLE: Table;
    /// The doctor's words.
    const ADVICE: Advice;
    /// The provider's name in `Debug` output (`XaiProvider`).
    const NAME: &'static str;
    /// The scheme of its `Authorization` header (`Bearer`, `Token`); empty:
    /// the header carries the bare key (with [`AUTH_HEADER`](Self::AUTH_HEADER)
    /// naming a vendor's own header, e.g. ElevenLabs' `xi-api-key`).
    const AUTH_SCHEME: &'static str;
    /// The header the key travels in (`authorization` unless the vendor has its own).
    const AUTH_HEADER: &'static str = "authorization";
    /// Its settings (declared with [`network_settings!`](crate::network_settings)).
    type Settings: Shared;
    /// Its streaming socket's dialect ([`NoSocket`] when it has none).
    type Dialect: Dialect;
    /// What else the provider keeps (a voice cache), `()` for nothing.
    type State: Default + Send + Sync + 'static;

    /// The dialect for these settings and endpoints.
    fn dialect(settings: Self::Settings, resolved: Arc<Resolved>) -> Self::Dialect;

    /// The driver's settings for these settings: the resolved ones
    /// (timeouts, pool, liveness) by default; a vendor whose socket
    /// multiplexes sets how many shared sockets it may open here.
    fn driver(_settings: &Self::Settings, driver: crate::DriverSettings) -> crate::DriverSettings {
        driver
    }

    /// Whether these settings can only be spoken over REST (a model the
    /// vendor's socket does not offer): `synthesize` and sessions then take
    /// REST whatever the entry's `transport`.
    fn rest_only(_settings: &Self::Settings) -> bool {
        false
    }

    /// The format spoken when the caller asks for none.
    fn native(settings: &Self::Settings) -> AudioFormat;

    /// The vendor's own checks of its settings (beyond key, URL and native format).
    fn check(_settings: &Self::Settings) -> Result<()> {
        Ok(())
    }

    /// The settings resolved: key and endpoints, the native format checked
    /// against the [`Table`], then [`check`](Self::check); `Config` errors.
    fn resolve(settings: &Self::Settings) -> Result<Resolved> {
        let resolved = settings.network().resolve(&Self::VENDOR)?;
        let native = Self::native(settings);
        if Self::TABLE.wire(native) != native {
            return Err(TtsError::config(format!(
                "sample_rate {} is not one {} offers for {:?} ({:?})",
                native.sample_rate,
                Self::VENDOR.id,
                native.encoding,
                Self::TABLE.rates(native.encoding)
            )));
        }
        Self::check(settings)?;
        Ok(resolved)
    }

    /// Refines a request's voicing (picks a voice for its language, say);
    /// may refuse it before any network call.
    fn choose(_p: &NetworkProvider<Self>, _voicing: &mut Voicing) -> Result<()> {
        Ok(())
    }

    /// The REST request speaking `text` in `voicing` (URL and body; the
    /// `Authorization` header is added). `Unsupported` for a socket-only vendor.
    fn rest(
        _p: &NetworkProvider<Self>,
        _voicing: &Voicing,
        _text: &str,
    ) -> Result<reqwest::RequestBuilder> {
        Err(TtsError::new(ErrorKind::Unsupported, "no REST path").with_provider(Self::VENDOR.id))
    }

    /// The voices it offers (none listed by default).
    fn voices(_p: &NetworkProvider<Self>) -> impl Future<Output = Result<Vec<Voice>>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The vendor's hint for a refused request's status, at the upgrade
    /// (`websocket`) or at REST (the generic one otherwise).
    fn hint(_status: u16, _websocket: bool) -> Option<String> {
        None
    }

    /// Its error rules: what belongs to the request rather than the vendor's
    /// health, kinds its statuses mean. Applied to every error it returns.
    fn scoped(e: TtsError) -> TtsError {
        e
    }

    /// A refused REST call (or voice list) as an error, before
    /// [`scoped`](Self::scoped): by default the shared classification with
    /// the vendor's [`hint`](Self::hint); a vendor that reads its error
    /// bodies refines it here.
    fn refused(_p: &NetworkProvider<Self>, failure: &HttpFailure<'_>) -> TtsError {
        crate::http::classify(Self::VENDOR.id, failure, |s| Self::hint(s, false))
    }

    /// The audio of an accepted REST answer: by default its body is raw
    /// audio in the voicing's wire format, cut into chunks as it arrives. A
    /// vendor whose answers vary (by `Content-Type`, say) reads them here.
    fn answer(p: &NetworkProvider<Self>, answer: Answer) -> Result<AudioStream> {
        let target = p.target(answer.requested);
        let wire = answer.voicing.wire;
        let mut chunker = Chunker::new(Self::VENDOR.id, wire, target, 0)?;
        chunker.set_text(&answer.text);
        let r = &p.core.resolved;
        let call = r.streamed_post(Self::VENDOR.id, wire.bytes_per_frame());
        let reader = call.body_reader(answer.response, r.first_audio_timeout);
        Ok(stream_body(reader, chunker, r.rest_url.clone()))
    }

    /// `voxwire doctor`: by default the shared steps
    /// ([`NetworkProvider::doctor`]); a vendor with checks of its own writes them here.
    fn diagnose(p: &NetworkProvider<Self>) -> impl Future<Output = Report> + Send {
        p.doctor()
    }
}

/// The provider of vendor `V`: a handle on its [`Core`].
#[derive(Clone)]
pub struct NetworkProvider<V: NetworkVendor> {
    core: Arc<Core<V>>,
}

impl<V: NetworkVendor> std::fmt::Debug for NetworkProvider<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug(V::NAME, f)
    }
}

impl<V: NetworkVendor> NetworkProvider<V> {
    /// Builds the provider; a `Config` error without a key, with a bad URL
    /// or with settings the vendor refuses.
    pub fn new(settings: V::Settings) -> Result<Self> {
        let core = NetworkCore::with_driver(
            V::VENDOR.id,
            settings,
            V::resolve,
            |s, r| V::dialect(s.clone(), r.clone()),
            V::driver,
            V::State::default(),
        )?;
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// The settings, resolution, driver and state.
    pub fn core(&self) -> &Core<V> {
        &self.core
    }

    /// The settings, as configured.
    pub fn settings(&self) -> &V::Settings {
        &self.core.settings
    }

    /// The REST endpoint (`{base}{path}`).
    pub fn rest_url(&self) -> &str {
        self.core.rest_url()
    }

    /// The WebSocket endpoint (the REST one with ws/wss).
    pub fn websocket_url(&self) -> &str {
        self.core.websocket_url()
    }

    /// Idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.core.idle_connections()
    }

    /// What the shared sockets hold now (a vendor whose socket multiplexes
    /// utterances by context id; all zero otherwise): for tests and diagnostics.
    pub fn shared_stats(&self) -> crate::SharedStats {
        self.core.ws.shared_stats()
    }

    /// Opens a socket for the entry's defaults now (reading the vendor's
    /// greeting, if it sends one) and pools it, so the next request skips the handshake.
    pub async fn prewarm(&self) -> Result<()> {
        self.core
            .ws
            .prewarm(&self.defaults())
            .await
            .map_err(V::scoped)
    }

    /// Closes every pooled socket, each with the dialect's goodbye first.
    pub async fn shutdown(&self) {
        self.core.ws.shutdown().await;
    }

    /// The format spoken for `requested` (the native one when `None`).
    pub fn target(&self, requested: Option<AudioFormat>) -> AudioFormat {
        requested.unwrap_or_else(|| V::native(self.settings()))
    }

    /// The voicing of the entry's defaults (the doctor's and pre-warming's).
    pub fn defaults(&self) -> Voicing {
        Voicing {
            voice: None,
            language: None,
            speed: None,
            wire: V::TABLE.wire(self.target(None)),
            extensions: Extensions::default(),
        }
    }

    /// The voicing of a request or session (its voice, language, speed,
    /// format and extensions), refined by the vendor ([`NetworkVendor::choose`]).
    pub fn voicing(
        &self,
        voice: Option<String>,
        language: Option<String>,
        speed: Option<f32>,
        format: Option<AudioFormat>,
        extensions: Extensions,
    ) -> Result<Voicing> {
        let wire = V::TABLE.wire(self.target(format));
        let mut voicing = Voicing {
            voice,
            language,
            speed,
            wire,
            extensions,
        };
        V::choose(self, &mut voicing)?;
        Ok(voicing)
    }

    /// A request's text, the format it is spoken in, and its voicing.
    fn parts(&self, r: SynthesisRequest) -> Result<(String, AudioFormat, Voicing)> {
        let target = self.target(r.format);
        let voicing = self.voicing(r.voice, r.language, r.speed, r.format, r.extensions)?;
        Ok((r.text, target, voicing))
    }

    /// Speaks `request` with one streamed REST call.
    pub async fn synthesize_rest(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(V::TABLE.max_rest_chars)?;
        let requested = request.format;
        let (text, _, voicing) = self.parts(request)?;
        let post = self.authorize(V::rest(self, &voicing, &text)?)?;
        let call = self.core.resolved.streamed_post(V::VENDOR.id, 1);
        let (response, started) = http::send_streamed(post, &call, |f| V::refused(self, f))
            .await
            .map_err(V::scoped)?;
        let answer = Answer {
            response,
            started,
            voicing,
            requested,
            text,
        };
        V::answer(self, answer).map_err(V::scoped)
    }

    /// The shared doctor's report: the key, the host, a one-word REST
    /// synthesis, then (with a socket) the upgrade and one utterance.
    pub async fn doctor(&self) -> Report {
        let mut doctor = SocketDoctor::new(&self.core, &V::ADVICE, self.defaults(), V::scoped);
        doctor.socket = V::TABLE.socket;
        doctor
            .report(self.describe(), |text| {
                self.synthesize_rest(SynthesisRequest::new(text))
            })
            .await
    }

    /// Speaks `request` as one utterance over the pooled socket; the
    /// vendor's rules ([`NetworkVendor::scoped`]) apply to the stream's
    /// errors too.
    pub async fn synthesize_ws(&self, request: SynthesisRequest) -> Result<AudioStream> {
        use futures::StreamExt as _;
        request.validate(V::TABLE.max_text_chars)?;
        let (text, target, voicing) = self.parts(request)?;
        let ws = &self.core.ws;
        let stream = ws
            .synthesize(text, voicing, target)
            .await
            .map_err(V::scoped)?;
        Ok(Box::pin(stream.map(|item| item.map_err(V::scoped))))
    }

    /// `<scheme> <key>` (the bare key without a scheme), marked sensitive:
    /// the value of the vendor's [`AUTH_HEADER`](NetworkVendor::AUTH_HEADER).
    pub fn authorization(&self) -> Result<reqwest::header::HeaderValue> {
        let key = &self.core.resolved.key;
        if V::AUTH_SCHEME.is_empty() {
            return http::sensitive(V::VENDOR.id, key);
        }
        http::authorization(V::VENDOR.id, V::AUTH_SCHEME, key)
    }

    /// `request` with the [`authorization`](Self::authorization) in the
    /// vendor's [`AUTH_HEADER`](NetworkVendor::AUTH_HEADER), or
    /// as it is when there is no key (a vendor whose
    /// [`resolve`](NetworkVendor::resolve) allows none, e.g. a local server).
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        if self.core.resolved.key.is_empty() {
            return Ok(request);
        }
        Ok(request.header(V::AUTH_HEADER, self.authorization()?))
    }

    /// An authorized `GET url` (a voice or model list): at most `limit`
    /// bytes of its body, within the connect plus first-audio timeouts; a
    /// refusal classified by the vendor's hints and rules.
    pub async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>> {
        let r = &self.core.resolved;
        let request = self.authorize(self.core.ws.http().get(url))?;
        let call = crate::http::StreamedPost {
            endpoint: url,
            ..r.streamed_post(V::VENDOR.id, 1)
        };
        let (response, _) = http::send_streamed(request, &call, |f| V::refused(self, f))
            .await
            .map_err(V::scoped)?;
        Ok(http::read_excerpt(response, limit, r.connect_timeout + r.first_audio_timeout).await)
    }
}

#[voxwire_core::async_trait]
impl<V: NetworkVendor> TtsProvider for NetworkProvider<V> {
    fn id(&self) -> &str {
        V::VENDOR.id
    }

    fn describe(&self) -> String {
        let url = if V::TABLE.socket {
            self.websocket_url()
        } else {
            self.rest_url()
        };
        format!("{} ({url})", V::VENDOR.id)
    }

    fn capabilities(&self) -> Capabilities {
        V::TABLE.capabilities(self.target(None))
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        V::voices(self).await
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(V::TABLE.max_text_chars)?;
        let rest = self.settings().network().transport == Transport::Rest
            && request.text.chars().count() <= V::TABLE.max_rest_chars;
        if rest || !V::TABLE.socket || V::rest_only(self.settings()) {
            self.synthesize_rest(request).await
        } else {
            self.synthesize_ws(request).await
        }
    }

    async fn prewarm(&self) -> Result<bool> {
        if !V::TABLE.socket || V::rest_only(self.settings()) {
            return Ok(false);
        }
        NetworkProvider::prewarm(self).await.map(|()| true)
    }

    async fn diagnose(&self) -> Report {
        V::diagnose(self).await
    }

    /// Over the socket; a vendor without one ([`NoSocket`]) speaks each
    /// sentence with its own REST call ([`sentences`](crate::sentences)).
    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        if !V::TABLE.socket || V::rest_only(self.settings()) {
            return crate::sentences::session(self.clone(), config);
        }
        if let Some(f) = &config.format {
            f.validate()?;
        }
        let target = self.target(config.format);
        let c = config;
        let voicing = self.voicing(c.voice, c.language, c.speed, c.format, c.extensions)?;
        self.core
            .ws
            .stream(voicing, target)
            .await
            .map_err(V::scoped)
    }
}

/// The dialect of a vendor with no streaming socket (REST and SSE only):
/// every upgrade is refused as `Unsupported`, so nothing is ever sent.
#[derive(Debug, Clone, Copy)]
pub struct NoSocket(pub &'static str);

impl Dialect for NoSocket {
    type State = ();

    fn provider(&self) -> &'static str {
        self.0
    }

    fn upgrade(&self, _: &Voicing) -> Result<UpgradeRequest> {
        Err(TtsError::new(
            ErrorKind::Unsupported,
            "this vendor has no streaming socket",
        )
        .with_provider(self.0))
    }

    fn text(&self, _: &Voicing, _: &str, text: &str) -> Outgoing {
        Outgoing::Text(text.to_string())
    }

    fn flush(&self, _: &Voicing, _: &str) -> Vec<Outgoing> {
        Vec::new()
    }

    fn cancel(&self, _: &str) -> CancelPlan {
        CancelPlan::Reconnect
    }

    fn decode(&self, _: &mut (), _: &str, _: Frame) -> Result<Decoded> {
        Ok(Decoded::Skip)
    }
}
