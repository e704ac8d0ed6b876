//! The toy multiplexing dialect the shared-socket tests and the stress
//! bench drive the kit's `mux_echo` mock with (`#[path]`-included by both).

use std::time::Duration;

use base64::Engine as _;
use voxwire_core::{ErrorKind, Result, Secret, TtsError};
use voxwire_transport::dialect::CancelPlan;
use voxwire_transport::{
    errors, Decoded, Dialect, Frame, Multiplex, Outgoing, UpgradeRequest, Voicing,
};

/// The key the mock takes.
pub const KEY: &str = "mux-key";

/// The toy multiplexing dialect, with switches for the faults a test needs.
pub struct Mux {
    /// The mock's `/mux` WebSocket URL.
    pub url: String,
    /// Contexts one socket carries at once (1: the dedicated, pooled path).
    pub max_contexts: usize,
    /// How long a shared socket with no context stays open.
    pub idle: Duration,
    /// Decoding a frame that contains this panics (a dialect's bug).
    pub panic_on: Option<&'static str>,
    /// Writing a text that contains `.0` blocks its thread for `.1` (a slow hook).
    pub slow_text: Option<(&'static str, Duration)>,
    /// The vendor acknowledges a clear (`cleared:<ctx>`) rather than ending the context.
    pub ack_clears: bool,
    /// Whether a socket may carry another utterance after one is done.
    pub reusable: bool,
    /// The socket's keep-alive (`keepalive`) and how often.
    pub keep_alive: Option<Duration>,
    /// At most this many flushes (`end:<ctx>`) per window on one socket.
    pub flush_limit: Option<(usize, Duration)>,
}

impl Mux {
    /// The dialect for the mock at `url`, `max_contexts` a socket, no faults.
    pub fn new(url: String, max_contexts: usize) -> Self {
        Self {
            url,
            max_contexts,
            idle: Duration::from_secs(30),
            panic_on: None,
            slow_text: None,
            ack_clears: false,
            reusable: true,
            keep_alive: None,
            flush_limit: None,
        }
    }
}

impl Dialect for Mux {
    type State = ();

    fn provider(&self) -> &'static str {
        "mux"
    }

    fn upgrade(&self, v: &Voicing) -> Result<UpgradeRequest> {
        Ok(
            UpgradeRequest::new(format!("{}?rate={}", self.url, v.wire.sample_rate))
                .secret_header("authorization", Secret::new(KEY)),
        )
    }

    fn multiplex(&self) -> Multiplex {
        Multiplex::ByContext
    }

    fn max_contexts(&self) -> usize {
        self.max_contexts
    }

    fn shared_idle(&self) -> Duration {
        self.idle
    }

    fn begin(&self, _: &Voicing, ctx: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(format!("open:{ctx}"))]
    }

    fn begin_on(&self, _: &Voicing, ctx: &str, first: bool) -> Vec<Outgoing> {
        let verb = if first { "first" } else { "open" };
        vec![Outgoing::Text(format!("{verb}:{ctx}"))]
    }

    fn text(&self, _: &Voicing, ctx: &str, text: &str) -> Outgoing {
        if let Some((_, pause)) = self.slow_text.filter(|(slow, _)| text.contains(slow)) {
            std::thread::sleep(pause);
        }
        Outgoing::Text(format!("say:{ctx}:{text}"))
    }

    fn reusable_after_done(&self) -> bool {
        self.reusable
    }

    fn keep_alive(&self) -> Option<(Duration, Outgoing)> {
        self.keep_alive
            .map(|every| (every, Outgoing::Text("keepalive".into())))
    }

    fn flush_limit(&self) -> Option<(usize, Duration)> {
        self.flush_limit
    }

    fn flush(&self, _: &Voicing, ctx: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(format!("end:{ctx}"))]
    }

    fn cancel(&self, ctx: &str) -> CancelPlan {
        CancelPlan::Clear {
            messages: vec![Outgoing::Text(format!("cancel:{ctx}"))],
            acknowledged: self.ack_clears,
        }
    }

    fn decode(&self, _: &mut (), endpoint: &str, frame: Frame) -> Result<Decoded> {
        let Frame::Text(t) = frame else {
            return Err(errors::protocol("mux", endpoint, "a binary frame"));
        };
        if let Some(bug) = self.panic_on.filter(|bug| t.contains(bug)) {
            panic!("the mux dialect's bug: {bug}");
        }
        let (verb, rest) = t.split_once(':').unwrap_or((&t, ""));
        let (ctx, rest) = rest.split_once(':').unwrap_or((rest, ""));
        let context = (!ctx.is_empty()).then(|| ctx.to_string());
        Ok(match verb {
            "audio" => Decoded::Audio {
                context,
                data: base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .map_err(|e| errors::protocol("mux", endpoint, e.to_string()))?
                    .into(),
                timing: None,
            },
            "done" => Decoded::Done { context },
            "cleared" => Decoded::Cleared { context },
            "error" => {
                let kind = if context.is_some() {
                    ErrorKind::InvalidRequest
                } else {
                    ErrorKind::Unavailable
                };
                Decoded::Error {
                    context,
                    error: TtsError::new(kind, rest.to_string()).with_provider("mux"),
                }
            }
            _ => Decoded::Skip,
        })
    }
}
