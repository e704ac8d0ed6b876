//! A whole provider added by a test: the toy vendor's dialect (a REST call,
//! no socket), its `NetworkVendor` (table, settings fields, voices, error
//! rules), its registration, and its mock on the testkit's kit; then the
//! CLI's own commands (`voices`, `doctor`, `say` through the router's chain)
//! find it in the registry this test binary fills.
//!
//! The CLI is driven through the library functions the `voxwire` binary
//! calls (`voices::run`, `doctor::run`, `say::prepare` + `say::run`): a
//! provider registered in a test binary is not linked into the binary.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use voxwire_cli::args::{Cli, Command};
use voxwire_core::{AudioFormat, Encoding, ErrorKind, ErrorScope, Result, TtsError, Voice};
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::{
    rejection_response, streamed_audio, Effects, Fault, FaultPlan, Kit, Mock, MockDialect,
    RequestKind, Stall,
};
use voxwire_transport::doctor::Advice;
use voxwire_transport::settings::{Limits, Resolved, Transport, Vendor};
use voxwire_transport::{NetworkProvider, NetworkVendor, NoSocket, Table, Voicing};

// ---- The vendor: what a provider crate writes. ----

/// The toy's variables, speech path and default limits.
const VENDOR: Vendor = Vendor {
    id: "toy",
    key_variable: "TOY_API_KEY",
    base_variable: "TOY_BASE_URL",
    default_base_url: "https://api.toy.invalid/v1",
    path: "/speak",
    limits: Limits::DEFAULT,
    max_connection_age_cap_s: u64::MAX,
};

/// The rate the toy speaks at.
const RATE: u32 = 16_000;
/// The toy's voices.
const VOICES: [&str; 2] = ["pip", "squeak"];

voxwire_transport::network_settings! {
    /// Settings of one `toy` chain entry: its own field, then the shared ones.
    pub struct ToySettings for VENDOR {
        /// Default voice.
        pub voice: String = "pip".into(),
    }
}

/// The toy's request body: its whole dialect (the answer is raw pcm16).
#[derive(serde::Serialize, serde::Deserialize)]
struct SpeakBody {
    text: String,
    voice: String,
}

/// The toy, as the generic network provider sees it.
#[derive(Debug, Clone)]
struct Toy;

impl NetworkVendor for Toy {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: false,
        formats: &[(Encoding::PcmS16le, &[RATE])],
        fallback: AudioFormat::pcm16_mono(RATE),
        languages: &["en"],
        max_text_chars: 1_000,
        max_rest_chars: 1_000,
        speed_range: None,
        timestamps: false,
        streaming_input: false,
    };
    const ADVICE: Advice = Advice::of(&VENDOR);
    const NAME: &'static str = "ToyProvider";
    const AUTH_SCHEME: &'static str = "Bearer";
    type Settings = ToySettings;
    type Dialect = NoSocket;
    type State = ();

    fn dialect(_: ToySettings, _: Arc<Resolved>) -> NoSocket {
        NoSocket("toy")
    }

    fn native(_: &ToySettings) -> AudioFormat {
        AudioFormat::pcm16_mono(RATE)
    }

    /// Any voice id passes (the toy may have voices voxwire does not list);
    /// a language other than English (`en`, `en-GB`, `auto`) is refused
    /// before any network call.
    fn choose(_: &NetworkProvider<Self>, v: &mut Voicing) -> Result<()> {
        match v.language.as_deref() {
            Some(tag) if !speaks(tag) => Err(TtsError::new(
                ErrorKind::Unsupported,
                format!("the toy speaks no `{tag}`"),
            )
            .with_scope(ErrorScope::Request)),
            _ => Ok(()),
        }
    }

    fn rest(p: &NetworkProvider<Self>, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let voice = v
            .voice
            .clone()
            .unwrap_or_else(|| p.settings().voice.clone());
        let body = SpeakBody {
            text: text.to_string(),
            voice,
        };
        Ok(p.core().ws.http().post(p.rest_url()).json(&body))
    }

    async fn voices(_: &NetworkProvider<Self>) -> Result<Vec<Voice>> {
        Ok(VOICES
            .iter()
            .map(|v| Voice {
                id: v.to_string(),
                name: v.to_string(),
                languages: vec!["en".into()],
                gender: None,
                provider: "toy".into(),
            })
            .collect())
    }

    fn hint(status: u16, _: bool) -> Option<String> {
        (status == 402).then(|| "the toy is out of tokens".to_string())
    }

    /// A 400 is the request's fault, not the toy's health.
    fn scoped(e: TtsError) -> TtsError {
        match e.status() {
            Some(400) => e.with_scope(ErrorScope::Request),
            _ => e,
        }
    }
}

/// Whether the toy speaks the BCP-47 `tag`: English in any region, or `auto`.
fn speaks(tag: &str) -> bool {
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    primary.eq_ignore_ascii_case("en") || tag.eq_ignore_ascii_case("auto")
}

voxwire_transport::register_network_provider! {
    vendor: Toy,
    describe: "the toy vendor of crates/cli/tests/toy_vendor.rs; needs TOY_API_KEY",
    priority: 50,
}

// ---- Its mock, on the testkit's kit. ----

/// `POST /v1/speak` with `authorization: Bearer <key>`: the kit's audio for the text.
struct ToyMock;

impl MockDialect for ToyMock {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        Router::new().route(
            "/v1/speak",
            post(
                move |headers: HeaderMap, Json(body): Json<SpeakBody>| async move {
                    speak(&kit, &headers, body)
                },
            ),
        )
    }
}

fn speak(kit: &Kit, headers: &HeaderMap, body: SpeakBody) -> Response {
    let id = kit.record_request(RequestKind::Rest, "POST", "/v1/speak", headers);
    let bearer = format!("Bearer {}", kit.api_key());
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == bearer.as_bytes());
    kit.update(id, |r| r.body = Some(format!("voice={}", body.voice)));
    let (_, fault) = kit.take_fault();
    let fx = Effects::of(&fault);
    let response = if !authorized {
        (StatusCode::UNAUTHORIZED, "bad key").into_response()
    } else if let Some(r) = fx.reject {
        rejection_response(&r)
    } else {
        let audio = expected_audio(&body.text, AudioFormat::pcm16_mono(RATE));
        let body = streamed_audio(audio, &fx.utterance, 512);
        ([("content-type", "audio/pcm")], body).into_response()
    };
    let status = response.status().as_u16();
    kit.update(id, |r| r.status = status);
    response
}

// ---- The CLI finds it. ----

const KEY: &str = "toy-key-SECRET";

/// The command line `args` parsed as the binary parses it.
fn command(args: &[&str]) -> Command {
    let argv = std::iter::once("voxwire").chain(args.iter().copied());
    Cli::try_parse_from(argv).expect("parses").command
}

/// `voxwire say`'s two steps, the provider that spoke and the audio written.
async fn say(args: &[&str], vars: &[(String, String)]) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.pcm");
    let out_arg = out.to_string_lossy().into_owned();
    let mut all = vec![
        "say",
        "--format",
        "pcm",
        "--sample-rate",
        "16000",
        "-o",
        &out_arg,
    ];
    all.extend(args);
    let Command::Say(args) = command(&all) else {
        panic!("not say")
    };
    let prepared =
        voxwire_cli::say::prepare(args, vars.to_vec(), std::io::empty()).expect("prepared");
    let outcome = voxwire_cli::say::run(prepared).await.expect("spoken");
    (outcome.provider, std::fs::read(&out).expect("written"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_toy_vendor_is_registered_listed_checked_and_spoken_through_the_router() {
    let mock = Mock::start(ToyMock, KEY).await.expect("mock");
    let base = mock.url("/v1");
    // The factory reads the process environment, as the binary's does.
    std::env::set_var("TOY_API_KEY", KEY);
    std::env::set_var("TOY_BASE_URL", &base);
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_string_lossy().into_owned();
    let vars: Vec<(String, String)> = [
        ("TOY_API_KEY", KEY),
        ("TOY_BASE_URL", base.as_str()),
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", home.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    // Registered, and in the default chain once its key is set.
    let factory = voxwire_core::registry::find("toy").expect("registered");
    assert_eq!(factory.id, "toy");
    assert!(voxwire_core::registry::default_chain()
        .iter()
        .any(|e| e.provider == "toy"));

    // `voxwire voices --provider toy`: the chain it builds lists the toy's voices.
    let Command::Voices(args) = command(&["voices", "--provider", "toy"]) else {
        panic!("not voices")
    };
    voxwire_cli::voices::run(args, vars.clone())
        .await
        .expect("voices");
    let entries =
        voxwire_cli::chain::resolve(&Default::default(), &["toy".into()], &vars).expect("chain");
    let built = voxwire_cli::chain::build(&entries).expect("built");
    let voices = built.providers[0].voices().await.expect("voices");
    assert_eq!(
        voices.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        VOICES
    );

    // `voxwire doctor --provider toy`: healthy, then a refused key is found.
    let doctor = |vars: Vec<(String, String)>| async move {
        let Command::Doctor(args) = command(&["doctor", "--provider", "toy"]) else {
            panic!("not doctor")
        };
        voxwire_cli::doctor::run(args, vars).await
    };
    doctor(vars.clone()).await.expect("the toy is healthy");
    let report = built.providers[0].diagnose().await;
    assert!(report.healthy(), "{report:?}");
    assert_eq!(
        report.checks.len(),
        3,
        "credentials, reachable, rest: {report:?}"
    );
    mock.kit().set_fault(Fault::reject(401, "no"));
    let e = doctor(vars.clone())
        .await
        .expect_err("a refused key is unhealthy");
    assert!(e.to_string().contains("toy"), "{e}");
    mock.kit().set_fault(Fault::None);

    // `voxwire say` through the router's chain (toy, then espeak): the toy speaks...
    let text = "Hello from the toy.";
    let chain = ["--provider", "toy", "--provider", "espeak", text];
    let (provider, audio) = say(&chain, &vars).await;
    assert!(provider.starts_with("toy ("), "{provider}");
    assert_eq!(audio, expected_audio(text, AudioFormat::pcm16_mono(RATE)));
    let sent = mock.kit().requests();
    assert_eq!(sent.last().map(|r| r.status), Some(200));
    assert_eq!(
        sent.last().and_then(|r| r.header("authorization")),
        Some("Bearer ***")
    );

    // ...and when it fails, the router fails over to espeak.
    mock.kit().set_fault(Fault::reject(503, "overloaded"));
    let (provider, audio) = say(&chain, &vars).await;
    assert!(provider.starts_with("espeak"), "{provider}");
    assert!(!audio.is_empty());
    mock.shutdown().await;
}

// ---- The conformance suite, as every provider runs it. ----

impl Conformance for Toy {
    type Mock = Mock<ToyMock>;
    const PROVIDER: &'static str = "toy";
    const KEY: &'static str = "toy-CONFORMANCE-0123456789abcdef";
    const PATHS: &'static [Path] = &[Path::Rest];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(RATE);
    const MISSING_LANGUAGE: Option<&'static str> = Some("tlh");
    const UNKNOWN_VOICE: &'static str = "whisker";

    async fn start(scenario: Scenario) -> Mock<ToyMock> {
        let fault = match scenario {
            Scenario::Reject(status) => Fault::reject(status, "refused"),
            Scenario::SilentBeforeAudio => Fault::stall_before_audio(Stall::Forever),
            Scenario::StallAfterAudio => Fault::stall_after(512, Stall::Forever),
            Scenario::ZeroAudio => Fault::ZeroAudio,
            _ => Fault::None,
        };
        Mock::start_with_faults(
            ToyMock,
            scenario.accepted_key(Self::KEY),
            FaultPlan::always(fault),
        )
        .await
        .expect("mock")
    }

    fn kit(mock: &Mock<ToyMock>) -> &Kit {
        mock.kit()
    }

    fn provider(
        mock: &Mock<ToyMock>,
        path: Path,
        deadlines: Deadlines,
    ) -> Arc<dyn ProviderUnderTest> {
        let settings = voxwire_testkit::conformance_settings!(
            ToySettings,
            Transport,
            Self::KEY,
            mock.url("/v1"),
            path,
            deadlines
        );
        Arc::new(NetworkProvider::<Toy>::new(settings).expect("provider"))
    }
}

voxwire_testkit::conformance_suite!(Toy);
