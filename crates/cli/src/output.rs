//! Where the audio goes: a file written whole-or-nothing through a temporary
//! file beside it, stdout (never a terminal), or an audio player program.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use voxwire_core::audio::pcm;
use voxwire_core::{AudioFormat, Encoding};

use crate::args::OutputFormat;
use crate::exit::CliError;
use crate::play::{Playback, PlayerProgram};

/// The output format for `flag` and the output path: the flag wins, then the
/// file's extension, then WAV for a file and raw PCM for stdout.
pub fn resolve_format(flag: Option<OutputFormat>, path: Option<&Path>) -> OutputFormat {
    if let Some(format) = flag {
        return format;
    }
    let Some(path) = path else {
        return OutputFormat::Pcm;
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("pcm" | "raw") => OutputFormat::Pcm,
        Some("ul" | "mulaw" | "ulaw") => OutputFormat::Mulaw,
        Some("al" | "alaw") => OutputFormat::Alaw,
        _ => OutputFormat::Wav,
    }
}

/// The encoding the provider is asked for: WAV holds 16-bit PCM.
pub fn encoding_of(format: OutputFormat) -> Encoding {
    match format {
        OutputFormat::Wav | OutputFormat::Pcm => Encoding::PcmS16le,
        OutputFormat::Mulaw => Encoding::Mulaw,
        OutputFormat::Alaw => Encoding::Alaw,
    }
}

/// Refuses to write binary audio to a terminal.
pub fn refuse_terminal(stdout_is_terminal: bool) -> Result<(), CliError> {
    if stdout_is_terminal {
        return Err(CliError::usage(
            "refusing to write binary audio to a terminal: use -o FILE or redirect stdout (voxwire say \"...\" > out.pcm)",
        ));
    }
    Ok(())
}

/// Where the audio is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output.
    Stdout,
    /// A file, replaced only when all the audio has been written.
    File(PathBuf),
    /// The machine's audio output, through a player program fed raw PCM.
    Player(PlayerProgram),
}

impl Destination {
    /// `-o FILE` or stdout.
    pub fn from_arg(path: Option<&Path>) -> Self {
        match path {
            Some(p) if p != Path::new("-") => Self::File(p.to_path_buf()),
            _ => Self::Stdout,
        }
    }

    /// A short name for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Stdout => "stdout".to_string(),
            Self::File(p) => p.display().to_string(),
            Self::Player(p) => format!("the audio player {} ({})", p.name, p.path.display()),
        }
    }
}

/// A temporary file that is deleted unless it was renamed into place.
#[derive(Debug)]
struct TempOutput {
    temp: PathBuf,
    target: PathBuf,
    placed: bool,
}

impl TempOutput {
    /// Creates `.<name>.tmp-<pid>` beside `target`: proves the directory is writable.
    fn create(target: &Path) -> Result<(Self, File), CliError> {
        let shown = target.display();
        if target.is_dir() {
            return Err(CliError::usage(format!(
                "cannot write {shown}: it is a directory; give a file name"
            )));
        }
        let Some(name) = target.file_name() else {
            return Err(CliError::usage(format!(
                "cannot write {shown}: it does not name a file"
            )));
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "cannot write {shown}: directory {} does not exist",
                dir.display()
            )));
        }
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{}", std::process::id()));
        let temp = dir.join(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| CliError::usage(format!("cannot write {shown}: {e}")))?;
        Ok((
            Self {
                temp,
                target: target.to_path_buf(),
                placed: false,
            },
            file,
        ))
    }

    /// Moves the finished file into place.
    fn place(mut self) -> Result<(), CliError> {
        fs::rename(&self.temp, &self.target).map_err(|e| {
            CliError::failure(format!("cannot write {}: {e}", self.target.display()))
        })?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

enum Writer {
    /// A WAV file; hound fixes the header sizes when finalized.
    WavFile(hound::WavWriter<BufWriter<File>>),
    /// Raw bytes (or a streamed WAV whose header was already written).
    Raw(BufWriter<Box<dyn Write>>),
    /// A player's stdin, written unbuffered so sound starts as audio arrives.
    Player(Playback),
}

/// Writes audio of one format as it arrives; dropping it unfinished deletes the
/// temporary file, so a failed or interrupted run leaves no output file.
pub struct AudioSink {
    writer: Writer,
    temp: Option<TempOutput>,
    format: AudioFormat,
    destination: Destination,
    /// Bytes written so far (how long a player has to play out).
    written: usize,
}

impl std::fmt::Debug for AudioSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioSink")
            .field("destination", &self.destination)
            .field("format", &self.format)
            .finish()
    }
}

impl AudioSink {
    /// Opens the destination for `format` audio written as `container`.
    ///
    /// For a file this creates the temporary file now, so an unwritable path is
    /// reported (exit 2) before any synthesis. Stdout is refused if it is a
    /// terminal. A player is started now and always takes raw 16-bit PCM.
    pub fn create(
        destination: &Destination,
        container: OutputFormat,
        format: AudioFormat,
    ) -> Result<Self, CliError> {
        Self::create_with(destination, container, format, || {
            let stdout = io::stdout();
            refuse_terminal(stdout.is_terminal())?;
            Ok(Box::new(stdout) as Box<dyn Write>)
        })
    }

    /// [`AudioSink::create`] with a custom stdout (for tests).
    pub fn create_with(
        destination: &Destination,
        container: OutputFormat,
        format: AudioFormat,
        stdout: impl FnOnce() -> Result<Box<dyn Write>, CliError>,
    ) -> Result<Self, CliError> {
        let is_wav = container == OutputFormat::Wav;
        let (writer, temp) = match destination {
            Destination::Stdout => {
                let mut out = BufWriter::new(stdout()?);
                if is_wav {
                    out.write_all(&voxwire_core::audio::wav::streaming_header(format))
                        .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))?;
                }
                (Writer::Raw(out), None)
            }
            Destination::File(path) => {
                let (temp, file) = TempOutput::create(path)?;
                let writer = if is_wav {
                    let wav = hound::WavWriter::new(BufWriter::new(file), wav_spec(format))
                        .map_err(|e| {
                            CliError::usage(format!("cannot write {}: {e}", path.display()))
                        })?;
                    Writer::WavFile(wav)
                } else {
                    Writer::Raw(BufWriter::new(Box::new(file) as Box<dyn Write>))
                };
                (writer, Some(temp))
            }
            Destination::Player(player) => {
                if format.encoding != Encoding::PcmS16le {
                    return Err(CliError::usage(format!(
                        "the audio player takes 16-bit PCM, not {}",
                        format.encoding
                    )));
                }
                (Writer::Player(player.start(format.sample_rate)?), None)
            }
        };
        Ok(Self {
            writer,
            temp,
            format,
            destination: destination.clone(),
            written: 0,
        })
    }

    /// The format of the bytes [`AudioSink::write`] takes.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Writes whole frames of [`AudioSink::format`].
    pub fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        let result = match &mut self.writer {
            Writer::Raw(out) => out.write_all(data),
            Writer::Player(player) => player.write_all(data).and_then(|()| player.flush()),
            Writer::WavFile(wav) => pcm::decode(Encoding::PcmS16le, data)
                .into_iter()
                .try_for_each(|s| wav.write_sample(s))
                .map_err(hound_to_io),
        };
        result.map_err(|e| self.write_error(e))?;
        self.written += data.len();
        Ok(())
    }

    /// Flushes everything and, for a file, moves it into place; a player is
    /// waited for until it has played the audio out.
    pub async fn finish(self) -> Result<(), CliError> {
        let Self {
            writer,
            temp,
            destination,
            format,
            written,
        } = self;
        let err = |e: io::Error| {
            CliError::failure(format!(
                "cannot write the audio to {}: {e}",
                destination.describe()
            ))
        };
        match writer {
            Writer::Raw(mut out) => out.flush().map_err(err)?,
            Writer::WavFile(wav) => wav.finalize().map_err(|e| err(hound_to_io(e)))?,
            Writer::Player(player) => player.finish(format.duration_of(written)).await?,
        }
        match temp {
            Some(temp) => temp.place(),
            None => Ok(()),
        }
    }

    fn write_error(&self, e: io::Error) -> CliError {
        CliError::failure(format!(
            "cannot write the audio to {}: {e}",
            self.destination.describe()
        ))
    }
}

fn hound_to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn wav_spec(format: AudioFormat) -> hound::WavSpec {
    hound::WavSpec {
        channels: format.channels,
        sample_rate: format.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn format_from_flag_then_extension() {
        use OutputFormat::*;
        assert_eq!(resolve_format(None, None), Pcm);
        assert_eq!(resolve_format(None, Some(Path::new("a.wav"))), Wav);
        assert_eq!(resolve_format(None, Some(Path::new("a"))), Wav);
        assert_eq!(resolve_format(None, Some(Path::new("a.RAW"))), Pcm);
        assert_eq!(resolve_format(None, Some(Path::new("a.pcm"))), Pcm);
        assert_eq!(resolve_format(None, Some(Path::new("a.ul"))), Mulaw);
        assert_eq!(resolve_format(None, Some(Path::new("a.ulaw"))), Mulaw);
        assert_eq!(resolve_format(None, Some(Path::new("a.al"))), Alaw);
        assert_eq!(resolve_format(Some(Pcm), Some(Path::new("a.wav"))), Pcm);
        assert_eq!(resolve_format(Some(Wav), None), Wav);
        assert_eq!(encoding_of(Wav), Encoding::PcmS16le);
        assert_eq!(encoding_of(Alaw), Encoding::Alaw);
    }

    #[test]
    fn a_terminal_is_refused() {
        let err = refuse_terminal(true).unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("terminal"), "{err}");
        assert!(refuse_terminal(false).is_ok());
        let refused = AudioSink::create_with(
            &Destination::Stdout,
            OutputFormat::Pcm,
            AudioFormat::pcm16_mono(22_050),
            || {
                refuse_terminal(true)?;
                Ok(Box::new(io::sink()) as Box<dyn Write>)
            },
        );
        assert_eq!(refused.unwrap_err().status(), 2);
    }

    #[test]
    fn a_wav_file_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let format = AudioFormat::pcm16_mono(16_000);
        let mut sink =
            AudioSink::create(&Destination::File(path.clone()), OutputFormat::Wav, format).unwrap();
        let temp = format!(".out.wav.tmp-{}", std::process::id());
        assert_eq!(entries(dir.path()), [temp]);
        let samples: Vec<i16> = (0..1600).map(|i| (i % 100) as i16 * 100).collect();
        sink.write(&pcm::encode(Encoding::PcmS16le, &samples))
            .unwrap();
        futures::executor::block_on(sink.finish()).unwrap();
        assert_eq!(entries(dir.path()), ["out.wav"]);
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec(), wav_spec(format));
        let back: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn dropping_an_unfinished_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcm");
        let mut sink = AudioSink::create(
            &Destination::File(path),
            OutputFormat::Pcm,
            AudioFormat::pcm16_mono(16_000),
        )
        .unwrap();
        sink.write(&[0, 1, 2, 3]).unwrap();
        drop(sink);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn unwritable_paths_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let format = AudioFormat::pcm16_mono(16_000);
        let missing = Destination::File(dir.path().join("no/such/dir/x.wav"));
        let err = AudioSink::create(&missing, OutputFormat::Wav, format).unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("does not exist"), "{err}");
        let is_dir = Destination::File(dir.path().to_path_buf());
        let err = AudioSink::create(&is_dir, OutputFormat::Wav, format).unwrap_err();
        assert!(err.message().contains("is a directory"), "{err}");
        assert!(entries(dir.path()).is_empty());
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stdout_gets_raw_bytes_or_a_streaming_wav() {
        let format = AudioFormat::pcm16_mono(8_000);
        let out = Shared::default();
        let o = out.clone();
        let mut sink =
            AudioSink::create_with(&Destination::Stdout, OutputFormat::Pcm, format, move || {
                Ok(Box::new(o) as Box<dyn Write>)
            })
            .unwrap();
        sink.write(&[1, 2, 3, 4]).unwrap();
        futures::executor::block_on(sink.finish()).unwrap();
        assert_eq!(*out.0.lock().unwrap(), [1, 2, 3, 4]);

        let out = Shared::default();
        let o = out.clone();
        let mut sink =
            AudioSink::create_with(&Destination::Stdout, OutputFormat::Wav, format, move || {
                Ok(Box::new(o) as Box<dyn Write>)
            })
            .unwrap();
        sink.write(&[1, 0, 2, 0]).unwrap();
        futures::executor::block_on(sink.finish()).unwrap();
        let bytes = out.0.lock().unwrap().clone();
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 8_000);
        assert_eq!(&bytes[36..40], b"data");
    }

    #[test]
    fn destination_dash_is_stdout() {
        assert_eq!(Destination::from_arg(None), Destination::Stdout);
        assert_eq!(
            Destination::from_arg(Some(Path::new("-"))),
            Destination::Stdout
        );
        assert_eq!(
            Destination::from_arg(Some(Path::new("a.wav"))),
            Destination::File(PathBuf::from("a.wav"))
        );
    }
}
