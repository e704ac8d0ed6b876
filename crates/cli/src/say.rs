//! `voxwire say`: text in, audio out, through the failover router.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::broadcast;
use voxwire_core::{AudioFormat, ProviderConfig, SynthesisRequest, TtsError, TtsProvider};
use voxwire_router::{AttemptOutcome, AttemptRecord, Router, RouterEvent, RouterSettings};

use crate::args::{OutputFormat, SayArgs};
use crate::chain;
use crate::config::{self, LoadedConfig};
use crate::exit::CliError;
use crate::input;
use crate::output::{self, AudioSink, Destination};
use crate::play::PlayerProgram;
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
    let mut destination = Destination::from_arg(args.output.as_deref());
    // Audio is played with --play, or when it would go to a terminal; the
    // player is looked for before waiting for text on stdin, not after.
    let play = args.play || (destination == Destination::Stdout && std::io::stdout().is_terminal());
    if play {
        destination = Destination::Player(PlayerProgram::find_or_explain()?);
    }
    let container = if play {
        OutputFormat::Pcm
    } else {
        output::resolve_format(args.format, args.output.as_deref())
    };
    let format = AudioFormat::mono(output::encoding_of(container), args.sample_rate);
    format
        .validate()
        .map_err(|e| CliError::from_validation(&e))?;
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
    let _prewarm = built.prewarm();
    let settings =
        RouterSettings::from_table(&config.router).map_err(|e| CliError::from_validation(&e))?;

    let progress_size = (text.chars().count(), text.len());
    let mut request = SynthesisRequest::new(text).format(format);
    if let Some(language) = args.language.clone().or_else(|| config.language.clone()) {
        request = request.language(language);
    }
    // A voice must be known to some provider; the router passes it to those
    // that list it and lets the others speak with their default voice.
    if let Some(voice) = args.voice.as_ref().or(config.voice.as_ref()) {
        VoiceCheck::run(&built.providers, voice)
            .await
            .require_known()?;
        request = request.voice(voice.clone());
    }
    // Keyed by entry name: two entries of one provider describe themselves apart.
    let describe: Vec<(String, String)> = built
        .names
        .iter()
        .zip(&built.providers)
        .map(|(name, p)| (name.clone(), p.describe()))
        .collect();
    let cache = match args.no_cache {
        true => None,
        false => crate::chain::phrase_cache(config, &vars)?,
    };
    let router = crate::chain::router(built.into_entries(), settings, cache.as_ref())?;

    let mut progress = Progress::for_text(progress_size.0, progress_size.1);
    let outcome = speak(
        &router,
        request,
        &mut sink,
        &mut progress,
        args.verbose,
        &describe,
    )
    .await;
    progress.finish();
    let outcome = outcome?;
    sink.finish().await?;
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

/// Speaks `request` through the router into `sink`, printing each failover
/// (and with `verbose` each attempt) as it happens.
pub async fn speak(
    router: &Router,
    request: SynthesisRequest,
    sink: &mut AudioSink,
    progress: &mut Progress,
    verbose: bool,
    describe: &[(String, String)],
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let format = sink.format();
    let mut events = router.subscribe();
    let mut report = Report::default();
    let result = async {
        let mut stream = router.synthesize(request).await?;
        let mut written = 0usize;
        let mut first_audio = None;
        while let Some(chunk) = stream.next().await {
            report.drain(&mut events, progress, verbose);
            let chunk = chunk?;
            first_audio.get_or_insert_with(|| started.elapsed());
            sink.write(&chunk.data).map_err(Failure::Output)?;
            written += chunk.data.len();
            progress.update(chunk.span, format.duration_of(written));
        }
        Ok::<_, Failure>((first_audio, written))
    }
    .await;
    report.drain(&mut events, progress, verbose);
    if verbose {
        report.summary(progress);
    }
    let (first_audio, written) = match result {
        Ok(done) => done,
        Err(Failure::Synthesis(err)) => return Err(CliError::from_synthesis(&err)),
        Err(Failure::Output(err)) => return Err(err),
    };
    let Some(first_audio) = first_audio.filter(|_| written > 0) else {
        return Err(CliError::failure("the router finished without any audio"));
    };
    let served: Vec<String> = report
        .served
        .iter()
        .map(|id| {
            describe
                .iter()
                .find(|(i, _)| i == id)
                .map_or_else(|| id.clone(), |(_, d)| d.clone())
        })
        .collect();
    Ok(Outcome {
        provider: served.join(", then "),
        first_audio,
        audio: format.duration_of(written),
    })
}

/// Why speaking stopped.
enum Failure {
    /// Every provider failed, or the input was refused.
    Synthesis(TtsError),
    /// Writing the output failed: stop.
    Output(CliError),
}

impl From<TtsError> for Failure {
    fn from(err: TtsError) -> Self {
        Self::Synthesis(err)
    }
}

/// What the router reported during one `say`.
#[derive(Default)]
struct Report {
    attempts: Vec<AttemptRecord>,
    /// Entries that spoke a piece, in order of first service.
    served: Vec<String>,
}

impl Report {
    fn drain(
        &mut self,
        events: &mut broadcast::Receiver<RouterEvent>,
        progress: &mut Progress,
        verbose: bool,
    ) {
        loop {
            match events.try_recv() {
                Ok(RouterEvent::Failover { from, to, reason }) => {
                    progress.note(&format!(
                        "voxwire: failed over from {from} to {to}: {reason}"
                    ));
                }
                Ok(RouterEvent::Attempt(record)) => {
                    if record.outcome == AttemptOutcome::Spoke
                        && !self.served.contains(&record.entry)
                    {
                        self.served.push(record.entry.clone());
                    }
                    if verbose {
                        progress.note(&format!("voxwire: {}", attempt_line(&record)));
                    }
                    self.attempts.push(record);
                }
                Ok(RouterEvent::Availability {
                    provider,
                    available,
                    reason,
                }) => {
                    if verbose {
                        let state = if available {
                            "back in rotation"
                        } else {
                            "marked down"
                        };
                        progress.note(&format!("voxwire: {provider} {state}: {reason}"));
                    }
                }
                Ok(RouterEvent::Latency {
                    entry,
                    degraded,
                    reason,
                }) => {
                    if verbose {
                        let state = if degraded { "degraded" } else { "restored" };
                        progress.note(&format!("voxwire: {entry} {state}: {reason}"));
                    }
                }
                Ok(RouterEvent::Cached { entry, chars, .. }) => {
                    let from_cache = format!("{entry} (from the phrase cache)");
                    if !self.served.contains(&from_cache) {
                        self.served.push(from_cache);
                    }
                    if verbose {
                        progress.note(&format!(
                            "voxwire: {entry}: a sentence of {chars} characters played from the phrase cache"
                        ));
                    }
                }
                Ok(RouterEvent::Hedge {
                    primary,
                    secondary,
                    winner,
                    ..
                }) => {
                    if verbose {
                        let winner = winner.as_deref().unwrap_or("neither");
                        progress.note(&format!(
                            "voxwire: hedged {primary} with {secondary}: {winner} spoke first"
                        ));
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    progress.note(&format!("voxwire: {n} router events were dropped"));
                }
                Err(_) => return,
            }
        }
    }

    /// Totals per provider: attempts, failures, audio, characters, median first audio.
    fn summary(&self, progress: &mut Progress) {
        let mut ids: Vec<&str> = Vec::new();
        for a in &self.attempts {
            if !ids.contains(&a.provider.as_str()) {
                ids.push(&a.provider);
            }
        }
        for id in ids {
            let mine: Vec<&AttemptRecord> =
                self.attempts.iter().filter(|a| a.provider == id).collect();
            let failed = mine
                .iter()
                .filter(|a| a.outcome != AttemptOutcome::Spoke)
                .count();
            let audio: Duration = mine.iter().map(|a| a.audio).sum();
            let chars: usize = mine
                .iter()
                .filter(|a| a.outcome == AttemptOutcome::Spoke)
                .map(|a| a.chars)
                .sum();
            let mut firsts: Vec<Duration> = mine.iter().filter_map(|a| a.first_audio).collect();
            firsts.sort();
            let median = firsts
                .get(firsts.len() / 2)
                .map_or_else(|| "-".to_string(), |d| format!("{} ms", d.as_millis()));
            progress.note(&format!(
                "voxwire: {id}: {} attempts, {failed} failed, {chars} characters, {:.2} s of audio, median first audio {median}",
                mine.len(),
                audio.as_secs_f64(),
            ));
        }
    }
}

fn attempt_line(a: &AttemptRecord) -> String {
    let outcome = match &a.outcome {
        AttemptOutcome::Spoke => "spoke".to_string(),
        AttemptOutcome::Failed { kind, message } => format!("failed ({kind}): {message}"),
        AttemptOutcome::Skipped { reason } => format!("skipped: {reason}"),
    };
    format!(
        "attempt {}: {}, piece {}: {outcome}; {} chars, {:.2} s audio, first audio {}, {} ms",
        a.attempt,
        a.provider,
        a.piece,
        a.chars,
        a.audio.as_secs_f64(),
        a.first_audio
            .map_or_else(|| "-".to_string(), |d| format!("{} ms", d.as_millis())),
        a.elapsed.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::args::{ChainArgs, DEFAULT_SAMPLE_RATE};
    use crate::testing::{Behaviour, Fake, FAKE_FORMAT};
    use voxwire_router::Policy;

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
        let quick = Policy {
            backoff_base_ms: 1,
            backoff_max_ms: 2,
            ..Policy::default()
        };
        let providers: Vec<_> = chain
            .iter()
            .map(|(id, b)| (Fake::arc(id, *b), quick.clone()))
            .collect();
        let describe: Vec<_> = providers
            .iter()
            .map(|(p, _)| (p.id().to_string(), p.describe()))
            .collect();
        let router = Router::new(providers, RouterSettings::default()).unwrap();
        let request = SynthesisRequest::new("hello").format(format);
        let (mut sink, out) = memory_sink(format);
        let mut progress = Progress::new(false, 5);
        let result = speak(&router, request, &mut sink, &mut progress, true, &describe).await;
        if result.is_ok() {
            sink.finish().await.unwrap();
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
    async fn failure_after_audio_resumes_on_the_next_provider() {
        let (result, bytes) = speak_with(
            &[("a", Behaviour::MidFail), ("b", Behaviour::Ok)],
            FAKE_FORMAT,
        )
        .await;
        let outcome = result.unwrap();
        assert_eq!(outcome.provider, "b (fake)");
        // b's three chunks of 0.2 s, nothing lost; before them a's one chunk
        // if the router had handed it on before a died (the piece is then
        // repeated once), none if a's failure came first (audio not yet
        // handed on is dropped). Which comes first is a race here.
        let chunk = FAKE_FORMAT.bytes_per_frame() * 1600;
        assert!(
            bytes.len() == 3 * chunk || bytes.len() == 4 * chunk,
            "{}",
            bytes.len()
        );
    }

    #[tokio::test]
    async fn the_last_failure_is_reported_with_its_provider() {
        let (result, bytes) = speak_with(&[("a", Behaviour::Fail)], FAKE_FORMAT).await;
        let err = result.unwrap_err();
        assert_eq!(err.status(), 1);
        assert!(err.message().contains("every provider failed"), "{err}");
        assert!(
            err.message().contains("a attempt 3: a: unavailable error"),
            "{err}"
        );
        assert!(bytes.is_empty());
        let (result, _) = speak_with(&[("a", Behaviour::Empty)], FAKE_FORMAT).await;
        let err = result.unwrap_err();
        assert!(err.message().contains("without audio"), "{err}");
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
            no_cache: false,
            play: false,
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
