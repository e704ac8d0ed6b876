//! `voxwire say`: text in, audio out, trying the chain's providers in order.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{
    AudioFormat, ErrorKind, ProviderConfig, SynthesisRequest, TtsError, TtsProvider,
};

use crate::args::{OutputFormat, SayArgs};
use crate::chain;
use crate::config::{self, LoadedConfig};
use crate::exit::CliError;
use crate::input;
use crate::normalize::Normalizer;
use crate::output::{self, AudioSink, Destination};
use crate::progress::Progress;
use crate::voices::VoiceCheck;

/// Everything decided before any provider is involved: checked text, format, destination.
#[derive(Debug)]
pub struct Prepared {
    args: SayArgs,
    loaded: LoadedConfig,
    vars: Vec<(String, String)>,
    text: String,
    destination: Destination,
    container: OutputFormat,
    format: AudioFormat,
}

/// The first, synchronous part: config, output format and the text (read from
/// `stdin` if needed). Every problem found here is a usage error (exit 2).
pub fn prepare(
    args: SayArgs,
    vars: Vec<(String, String)>,
    stdin: impl Read,
) -> Result<Prepared, CliError> {
    let loaded = config::load(args.chain.config.as_deref(), &vars)?;
    let container = output::resolve_format(args.format, args.output.as_deref());
    let format = AudioFormat::mono(output::encoding_of(container), args.sample_rate);
    format
        .validate()
        .map_err(|e| CliError::from_validation(&e))?;
    let destination = Destination::from_arg(args.output.as_deref());
    if destination == Destination::Stdout {
        // Refuse before waiting for text on stdin, not after.
        output::refuse_terminal(std::io::stdout().is_terminal())?;
    }
    let text = input::text(args.text.as_deref(), stdin, loaded.config.max_text_chars)?;
    Ok(Prepared {
        args,
        loaded,
        vars,
        text,
        destination,
        container,
        format,
    })
}

/// How a successful run went.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `describe()` of the provider that spoke.
    pub provider: String,
    /// From the first request to the first audio byte (failed attempts included).
    pub first_audio: Duration,
    /// How long the written audio plays.
    pub audio: Duration,
}

impl Outcome {
    /// The line printed on success.
    pub fn summary(&self) -> String {
        format!(
            "voxwire: spoke {:.2} s of audio via {}; first audio after {} ms",
            self.audio.as_secs_f64(),
            self.provider,
            self.first_audio.as_millis()
        )
    }
}

/// The second part: providers, voice check, synthesis into the output.
///
/// The output's temporary file is created before any provider is built, so an
/// unwritable path fails fast; if this future is dropped (Ctrl-C) or fails, the
/// temporary file is deleted and no output file appears.
pub async fn run(prepared: Prepared) -> Result<Outcome, CliError> {
    let Prepared {
        args,
        loaded,
        vars,
        text,
        destination,
        container,
        format,
    } = prepared;
    let config = &loaded.config;
    let entries = chain::resolve(config, &args.chain.providers, &vars)?;
    let mut sink = AudioSink::create(&destination, container, format)?;
    if args.verbose {
        eprintln!(
            "voxwire: config {}; chain {}; writing {} as {} ({format})",
            loaded.source.as_ref().map_or_else(
                || "defaults".to_string(),
                |p: &PathBuf| p.display().to_string()
            ),
            entry_ids(&entries),
            destination.describe(),
            container.name(),
        );
    }
    let built = build_off_thread(entries).await?;
    let providers = built.providers;

    let progress_size = (text.chars().count(), text.len());
    let mut base = SynthesisRequest::new(text).format(format);
    if let Some(language) = args.language.clone().or_else(|| config.language.clone()) {
        base = base.language(language);
    }
    let requests = match (&args.voice, &config.voice) {
        (Some(voice), _) => {
            let check = VoiceCheck::run(&providers, voice).await;
            check.require_known()?;
            vec![base.clone().voice(voice.clone()); providers.len()]
        }
        (None, Some(voice)) => {
            // The config's voice is a default "for every provider that knows it".
            let check = VoiceCheck::run(&providers, voice).await;
            check.require_known()?;
            check
                .known
                .iter()
                .map(|known| match known {
                    Some(false) => base.clone(),
                    _ => base.clone().voice(voice.clone()),
                })
                .collect()
        }
        (None, None) => vec![base.clone(); providers.len()],
    };

    let mut progress = Progress::for_text(progress_size.0, progress_size.1);
    let outcome = speak(
        &providers,
        &requests,
        &mut sink,
        &mut progress,
        args.verbose,
    )
    .await;
    progress.finish();
    let outcome = outcome?;
    sink.finish()?;
    Ok(outcome)
}

fn entry_ids(entries: &[ProviderConfig]) -> String {
    entries
        .iter()
        .map(|e| e.provider.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Builds the providers on a blocking thread (an engine may start a process or
/// unpack data), so Ctrl-C stays responsive.
async fn build_off_thread(entries: Vec<ProviderConfig>) -> Result<chain::Built, CliError> {
    tokio::task::spawn_blocking(move || chain::build(&entries))
        .await
        .map_err(|e| CliError::failure(format!("building the providers failed: {e}")))?
}

/// Why one attempt failed.
#[derive(Debug)]
enum AttemptError {
    /// The provider failed; `audio_written` says whether any audio already went out.
    Provider { err: TtsError, audio_written: bool },
    /// Something on our side (writing the output) failed: stop.
    Fatal(CliError),
}

/// Tries each provider in order until one speaks the whole text.
///
/// A provider that fails before any audio was written, with an error that may
/// fail over, hands over to the next one (one line on stderr); after audio has
/// been written any failure is fatal (exit 1).
pub async fn speak(
    providers: &[Arc<dyn TtsProvider>],
    requests: &[SynthesisRequest],
    sink: &mut AudioSink,
    progress: &mut Progress,
    verbose: bool,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    for (i, (provider, request)) in providers.iter().zip(requests).enumerate() {
        let attempt_start = Instant::now();
        let result = attempt(provider.as_ref(), request.clone(), sink, progress, started).await;
        let (err, audio_written) = match result {
            Ok(outcome) => {
                if verbose {
                    progress.note(&format!(
                        "voxwire: attempt {}: {} spoke {:.2} s in {} ms",
                        i + 1,
                        outcome.provider,
                        outcome.audio.as_secs_f64(),
                        attempt_start.elapsed().as_millis()
                    ));
                }
                return Ok(outcome);
            }
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(AttemptError::Provider { err, audio_written }) => (err, audio_written),
        };
        if verbose {
            progress.note(&format!(
                "voxwire: attempt {}: {} failed after {} ms: {err}",
                i + 1,
                provider.describe(),
                attempt_start.elapsed().as_millis()
            ));
        }
        if audio_written {
            return Err(CliError::failure(format!(
                "{err} (after audio had been written; not failing over)"
            )));
        }
        match providers.get(i + 1) {
            Some(next) if err.may_fail_over() => progress.note(&format!(
                "voxwire: {} failed ({err}); trying {}",
                provider.id(),
                next.id()
            )),
            _ => return Err(CliError::from_synthesis(&err)),
        }
    }
    Err(CliError::failure("no provider to try"))
}

/// One provider, start to finish, streaming into `sink`.
async fn attempt(
    provider: &dyn TtsProvider,
    request: SynthesisRequest,
    sink: &mut AudioSink,
    progress: &mut Progress,
    started: Instant,
) -> Result<Outcome, AttemptError> {
    let id = provider.id().to_string();
    let format = sink.format();
    let mut written = 0usize;
    let failed = |err: TtsError, written: usize| AttemptError::Provider {
        err: err.or_provider(id.clone()),
        audio_written: written > 0,
    };
    let mut stream = provider
        .synthesize(request)
        .await
        .map_err(|e| failed(e, 0))?;
    let mut normalizer = Normalizer::new(format);
    let mut first_audio = None;
    while let Some(item) = stream.next().await {
        let chunk = item.map_err(|e| failed(e, written))?;
        if chunk.data.is_empty() {
            continue;
        }
        first_audio.get_or_insert_with(|| started.elapsed());
        let span = chunk.span;
        let data = normalizer.push(chunk).map_err(|e| failed(e, written))?;
        sink.write(&data).map_err(AttemptError::Fatal)?;
        written += data.len();
        progress.update(span, format.duration_of(written));
    }
    let tail = normalizer.finish().map_err(|e| failed(e, written))?;
    sink.write(&tail).map_err(AttemptError::Fatal)?;
    written += tail.len();
    let Some(first_audio) = first_audio.filter(|_| written > 0) else {
        return Err(failed(
            TtsError::new(ErrorKind::NoAudio, "the stream ended without any audio"),
            written,
        ));
    };
    Ok(Outcome {
        provider: provider.describe(),
        first_audio,
        audio: format.duration_of(written),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;
    use crate::args::{ChainArgs, DEFAULT_SAMPLE_RATE};
    use crate::testing::{Behaviour, Fake, FAKE_FORMAT};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn memory_sink(format: AudioFormat) -> (AudioSink, Shared) {
        let out = Shared::default();
        let o = out.clone();
        let sink =
            AudioSink::create_with(&Destination::Stdout, OutputFormat::Pcm, format, move || {
                Ok(Box::new(o) as Box<dyn std::io::Write>)
            })
            .unwrap();
        (sink, out)
    }

    async fn speak_with(
        chain: &[(&'static str, Behaviour)],
        format: AudioFormat,
    ) -> (Result<Outcome, CliError>, Vec<u8>) {
        let providers: Vec<_> = chain.iter().map(|(id, b)| Fake::arc(id, *b)).collect();
        let requests = vec![SynthesisRequest::new("hello").format(format); providers.len()];
        let (mut sink, out) = memory_sink(format);
        let mut progress = Progress::new(false, 5);
        let result = speak(&providers, &requests, &mut sink, &mut progress, true).await;
        if result.is_ok() {
            sink.finish().unwrap();
        }
        let bytes = out.0.lock().unwrap().clone();
        (result, bytes)
    }

    #[tokio::test]
    async fn fails_over_before_audio_and_converts_to_the_asked_format() {
        let format = AudioFormat::pcm16_mono(16_000);
        let (result, bytes) = speak_with(
            &[
                ("a", Behaviour::Fail),
                ("b", Behaviour::Empty),
                ("c", Behaviour::Ok),
            ],
            format,
        )
        .await;
        let outcome = result.unwrap();
        assert_eq!(outcome.provider, "c (fake)");
        // 3 chunks of 0.2 s at 8 kHz, resampled to 16 kHz.
        let secs = outcome.audio.as_secs_f64();
        assert!((secs - 0.6).abs() < 0.01, "{secs}");
        assert!((bytes.len() as i64 - 19_200).abs() < 200, "{}", bytes.len());
        assert!(outcome
            .summary()
            .contains("spoke 0.60 s of audio via c (fake)"));
    }

    #[tokio::test]
    async fn failure_after_audio_is_fatal() {
        let (result, _) = speak_with(
            &[("a", Behaviour::MidFail), ("b", Behaviour::Ok)],
            FAKE_FORMAT,
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.status(), 1);
        assert!(
            err.message().contains("after audio had been written"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_last_failure_is_reported_with_its_provider() {
        let (result, bytes) = speak_with(&[("a", Behaviour::Fail)], FAKE_FORMAT).await;
        let err = result.unwrap_err();
        assert_eq!(err.status(), 1);
        assert!(err.message().starts_with("a: unavailable error"), "{err}");
        assert!(bytes.is_empty());
        let (result, _) = speak_with(&[("a", Behaviour::Empty)], FAKE_FORMAT).await;
        assert!(result.unwrap_err().message().contains("without any audio"));
    }

    #[tokio::test]
    async fn rejected_input_does_not_fail_over() {
        let (result, _) = speak_with(
            &[("a", Behaviour::RejectInput), ("b", Behaviour::Ok)],
            FAKE_FORMAT,
        )
        .await;
        assert_eq!(result.unwrap_err().status(), 2);
    }

    fn say_args(dir: &std::path::Path, extra: impl FnOnce(&mut SayArgs)) -> SayArgs {
        let config = dir.join("empty.toml");
        std::fs::write(&config, "").unwrap();
        let mut args = SayArgs {
            text: Some("hello there".into()),
            output: Some(dir.join("out.wav")),
            voice: None,
            language: None,
            format: None,
            sample_rate: DEFAULT_SAMPLE_RATE,
            verbose: false,
            chain: ChainArgs {
                providers: vec!["fake-fail".into(), "fake-ok".into()],
                config: Some(config),
            },
        };
        extra(&mut args);
        args
    }

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn say_writes_a_wav_through_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let prepared = prepare(say_args(dir.path(), |_| {}), Vec::new(), &b""[..]).unwrap();
        let outcome = run(prepared).await.unwrap();
        assert_eq!(outcome.provider, "fake-ok (fake)");
        assert_eq!(files(dir.path()), ["empty.toml", "out.wav"]);
        let reader = hound::WavReader::open(dir.path().join("out.wav")).unwrap();
        assert_eq!(reader.spec().sample_rate, DEFAULT_SAMPLE_RATE);
        assert_eq!(reader.spec().bits_per_sample, 16);
        let secs = f64::from(reader.duration()) / f64::from(DEFAULT_SAMPLE_RATE);
        assert!((secs - 0.6).abs() < 0.01, "{secs}");
    }

    #[tokio::test]
    async fn say_failures_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let args = say_args(dir.path(), |a| a.chain.providers = vec!["fake-fail".into()]);
        let err = run(prepare(args, Vec::new(), &b""[..]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 1);
        assert_eq!(files(dir.path()), ["empty.toml"]);

        let args = say_args(dir.path(), |a| a.voice = Some("gamma".into()));
        let err = run(prepare(args, Vec::new(), &b""[..]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("unknown voice `gamma`"), "{err}");
        assert!(err.message().contains("alpha"), "{err}");
        assert_eq!(files(dir.path()), ["empty.toml"]);

        let args = say_args(dir.path(), |a| a.chain.providers = vec!["nope".into()]);
        let err = run(prepare(args, Vec::new(), &b""[..]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 2);
        assert_eq!(files(dir.path()), ["empty.toml"]);
    }

    #[tokio::test]
    async fn a_voice_known_by_a_later_provider_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let args = say_args(dir.path(), |a| a.voice = Some("BETA".into()));
        let outcome = run(prepare(args, Vec::new(), &b""[..]).unwrap())
            .await
            .unwrap();
        assert_eq!(outcome.provider, "fake-ok (fake)");
    }

    #[test]
    fn prepare_rejects_bad_requests() {
        let dir = tempfile::tempdir().unwrap();
        let bad_rate = say_args(dir.path(), |a| a.sample_rate = 100);
        let err = prepare(bad_rate, Vec::new(), &b""[..]).unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("sample rate 100 Hz"), "{err}");

        let long = say_args(dir.path(), |_| {});
        let env = vec![("VOXWIRE_MAX_TEXT_CHARS".to_string(), "5".to_string())];
        let err = prepare(long, env, &b""[..]).unwrap_err();
        assert!(err.message().contains("over the limit of 5"), "{err}");

        let stdin = say_args(dir.path(), |a| a.text = Some("-".into()));
        let err = prepare(stdin, Vec::new(), &b" \n"[..]).unwrap_err();
        assert!(err.message().contains("only whitespace"), "{err}");
    }
}
