//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The sample rate `say` asks for when `--sample-rate` is not given.
pub const DEFAULT_SAMPLE_RATE: u32 = 22_050;

/// Speak text through any text-to-speech provider, failing over when one breaks.
#[derive(Debug, Parser)]
#[command(
    name = "voxwire",
    version,
    about = "Speak text through any text-to-speech provider, failing over when one breaks: say, voices, doctor, and serve (a relay with xAI- and OpenAI-compatible endpoints)",
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Speak text aloud (stdout a terminal), into an audio file (-o), or to stdout (a pipe).
    Say(SayArgs),
    /// List the voices of each provider in the chain.
    Voices(VoicesArgs),
    /// Check each provider end to end (credentials, reachability, each transport) and say what to fix.
    Doctor(DoctorArgs),
    /// Run the relay with failover: xAI-compatible TTS (WebSocket and REST at /v1/tts),
    /// OpenAI-compatible speech (POST /v1/audio/speech), and the browser demo page.
    Serve(ServeArgs),
    /// Show or empty the phrase cache (`[cache]`; with none configured, the default disk store).
    Cache(CacheArgs),
}

/// `voxwire cache`.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// What to do with the cache.
    #[command(subcommand)]
    pub action: CacheAction,
    /// Read this config file (default: $VOXWIRE_CONFIG, else ./voxwire.toml when present).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

/// What `voxwire cache` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CacheAction {
    /// How many sentences the cache holds, and their bytes.
    Stats,
    /// Forget every cached sentence.
    Clear,
}

/// Options shared by every subcommand that builds providers.
#[derive(Debug, Clone, Default, Args)]
pub struct ChainArgs {
    /// Use this provider instead of the configured chain; repeat to build a chain in order.
    #[arg(long = "provider", value_name = "ID")]
    pub providers: Vec<String>,
    /// Read this config file (default: $VOXWIRE_CONFIG, else ./voxwire.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `voxwire say`.
#[derive(Debug, Clone, Args)]
pub struct SayArgs {
    /// The text to speak; `-` or nothing reads it from stdin.
    #[arg(value_name = "TEXT|-")]
    pub text: Option<String>,
    /// Write the audio to this file (written whole or not at all); default: play it when stdout
    /// is a terminal, else write it to stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Play the audio through a player found on PATH (pw-play, paplay, aplay, ffplay, play),
    /// even when stdout is not a terminal.
    #[arg(long, conflicts_with_all = ["output", "format"])]
    pub play: bool,
    /// Voice id (see `voxwire voices`).
    #[arg(long, value_name = "V")]
    pub voice: Option<String>,
    /// Language (BCP-47), for providers that pick a voice by language.
    #[arg(long, value_name = "L")]
    pub language: Option<String>,
    /// Output format (default: from the file's extension, WAV for files, pcm for stdout).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,
    /// Output sample rate in Hz.
    #[arg(long, value_name = "HZ", default_value_t = DEFAULT_SAMPLE_RATE)]
    pub sample_rate: u32,
    /// Print one line per provider attempt.
    #[arg(short, long)]
    pub verbose: bool,
    /// Neither play sentences from the phrase cache nor keep any in it.
    #[arg(long)]
    pub no_cache: bool,
    /// Provider and config selection.
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// `voxwire voices`.
#[derive(Debug, Clone, Args)]
pub struct VoicesArgs {
    /// Provider and config selection.
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// `voxwire serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Provider and config selection.
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// `voxwire doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Provider and config selection.
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// The container or raw encoding `say` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// RIFF/WAVE, 16-bit linear PCM.
    Wav,
    /// Raw signed 16-bit little-endian PCM.
    Pcm,
    /// Raw G.711 µ-law.
    Mulaw,
    /// Raw G.711 A-law.
    Alaw,
}

impl OutputFormat {
    /// The name used on the command line (`wav`, `pcm`, `mulaw`, `alaw`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Pcm => "pcm",
            Self::Mulaw => "mulaw",
            Self::Alaw => "alaw",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn say_parses_every_option() {
        let cli = Cli::try_parse_from([
            "voxwire",
            "say",
            "hello",
            "-o",
            "x.wav",
            "--voice",
            "en-us",
            "--provider",
            "a",
            "--provider",
            "b",
            "--format",
            "mulaw",
            "--sample-rate",
            "8000",
            "--verbose",
        ])
        .unwrap();
        let Command::Say(say) = cli.command else {
            panic!("not say")
        };
        assert_eq!(say.text.as_deref(), Some("hello"));
        assert_eq!(say.chain.providers, ["a", "b"]);
        assert_eq!(say.format, Some(OutputFormat::Mulaw));
        assert_eq!(say.sample_rate, 8000);
        assert!(say.verbose);
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["voxwire", "say"]).unwrap();
        let Command::Say(say) = cli.command else {
            panic!("not say")
        };
        assert_eq!(say.text, None);
        assert_eq!(say.sample_rate, DEFAULT_SAMPLE_RATE);
        assert_eq!(say.format, None);
        assert!(!say.play);
    }

    #[test]
    fn play_conflicts_with_a_file_and_a_format() {
        let cli = Cli::try_parse_from(["voxwire", "say", "hi", "--play"]).unwrap();
        let Command::Say(say) = cli.command else {
            panic!("not say")
        };
        assert!(say.play);
        assert!(Cli::try_parse_from(["voxwire", "say", "hi", "--play", "-o", "a.wav"]).is_err());
        assert!(
            Cli::try_parse_from(["voxwire", "say", "hi", "--play", "--format", "wav"]).is_err()
        );
    }

    #[test]
    fn format_names_match_the_command_line() {
        for f in OutputFormat::value_variants() {
            let value = f.to_possible_value().unwrap();
            assert_eq!(value.get_name(), f.name());
        }
    }
}
