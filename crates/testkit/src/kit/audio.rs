//! The deterministic audio the mock speaks, so tests can compare bytes.
//!
//! Every character of the text becomes [`MS_PER_CHAR`] milliseconds of audio:
//! a sine tone whose pitch derives from the character's code point (silence for
//! whitespace), with short fades so it sounds like beeps rather than clicks.
//! Each character's samples depend on that character alone, so the audio of
//! `a + b` is exactly the audio of `a` followed by the audio of `b` for every
//! linear codec (pcm, mulaw, alaw). That is what lets a failover test check that
//! no sentence was lost and at most one was repeated.
//!
//! `wav` is the PCM behind a streaming WAV header (placeholder sizes), and `mp3`
//! is a run of silent MPEG Layer III frames as long as the text's audio: real
//! frames any decoder accepts, but carrying no tone.

use voxwire_core::audio::pcm;
use voxwire_core::{AudioFormat, Encoding};

/// Milliseconds of audio each character of the text gets.
pub const MS_PER_CHAR: u32 = 60;

/// Milliseconds of fade-in and fade-out at each end of a character's tone.
pub const FADE_MS: u32 = 5;

/// Peak amplitude of a character's tone (of 32767).
pub const AMPLITUDE: f64 = 8_000.0;

/// The sample rates xAI accepts, in Hz.
pub const SAMPLE_RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];

/// The mp3 bit rates xAI accepts, in bit/s.
pub const MP3_BIT_RATES: [u32; 5] = [32_000, 64_000, 96_000, 128_000, 192_000];

/// The sample rate when a request names none.
pub const DEFAULT_SAMPLE_RATE: u32 = 24_000;

/// The mp3 bit rate when a request names none.
pub const DEFAULT_BIT_RATE: u32 = 128_000;

/// The size of the streaming WAV header the mock writes before PCM.
pub const WAV_HEADER_LEN: usize = 44;

/// The `output_format.codec` (REST) or `codec` (WebSocket) values the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MockCodec {
    /// MPEG Layer III (silent frames of the right length); xAI's default.
    Mp3,
    /// A streaming WAV header followed by 16-bit PCM.
    Wav,
    /// Signed 16-bit little-endian PCM, no header.
    Pcm,
    /// G.711 µ-law (`mulaw`, alias `ulaw`).
    Mulaw,
    /// G.711 A-law.
    Alaw,
}

impl MockCodec {
    /// Parses a codec name as xAI does: case-insensitive, `ulaw` for `mulaw`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mp3" => Some(Self::Mp3),
            "wav" => Some(Self::Wav),
            "pcm" => Some(Self::Pcm),
            "mulaw" | "ulaw" => Some(Self::Mulaw),
            "alaw" => Some(Self::Alaw),
            _ => None,
        }
    }

    /// The canonical wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Wav => "wav",
            Self::Pcm => "pcm",
            Self::Mulaw => "mulaw",
            Self::Alaw => "alaw",
        }
    }

    /// The sample encoding behind the codec (`None` for mp3); wav carries PCM.
    pub fn encoding(self) -> Option<Encoding> {
        match self {
            Self::Mp3 => None,
            Self::Wav | Self::Pcm => Some(Encoding::PcmS16le),
            Self::Mulaw => Some(Encoding::Mulaw),
            Self::Alaw => Some(Encoding::Alaw),
        }
    }

    /// The `Content-Type` of a REST response in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Wav => "audio/wav",
            Self::Pcm => "audio/pcm",
            Self::Mulaw => "audio/basic",
            Self::Alaw => "audio/x-alaw-basic",
        }
    }
}

/// When one character's audio plays, in seconds from the start of its utterance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CharTime {
    /// The character (spaces and punctuation included).
    pub ch: char,
    /// When its audio starts.
    pub start: f64,
    /// When its audio ends.
    pub end: f64,
}

/// How many samples (frames) one character gets at `sample_rate`.
pub fn samples_per_char(sample_rate: u32) -> usize {
    (u64::from(sample_rate) * u64::from(MS_PER_CHAR) / 1000) as usize
}

/// The pitch of a character's tone in Hz, or `None` when it is silent (whitespace).
pub fn char_frequency(ch: char) -> Option<f64> {
    if ch.is_whitespace() {
        None
    } else {
        Some(200.0 + f64::from(u32::from(ch) % 64) * 12.5)
    }
}

/// The 16-bit samples of one character at `sample_rate`.
pub fn char_samples(ch: char, sample_rate: u32) -> Vec<i16> {
    let n = samples_per_char(sample_rate);
    let Some(freq) = char_frequency(ch) else {
        return vec![0; n];
    };
    let fade = ((u64::from(sample_rate) * u64::from(FADE_MS) / 1000) as usize).max(1);
    let rate = f64::from(sample_rate.max(1));
    (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let gain = if edge < fade {
                edge as f64 / fade as f64
            } else {
                1.0
            };
            let phase = 2.0 * std::f64::consts::PI * freq * i as f64 / rate;
            (phase.sin() * AMPLITUDE * gain).round() as i16
        })
        .collect()
}

/// The mono 16-bit samples the mock speaks for `text` at `sample_rate`.
pub fn expected_samples(text: &str, sample_rate: u32) -> Vec<i16> {
    let mut out = Vec::with_capacity(text.chars().count() * samples_per_char(sample_rate));
    for ch in text.chars() {
        out.extend(char_samples(ch, sample_rate));
    }
    out
}

/// The raw audio bytes the mock sends for `text` in `format` (pcm, mulaw or alaw).
///
/// More than one channel repeats each sample on every channel. For any split of a
/// text, `expected_audio(a + b) == expected_audio(a) ++ expected_audio(b)`.
pub fn expected_audio(text: &str, format: AudioFormat) -> Vec<u8> {
    let mono = expected_samples(text, format.sample_rate);
    let channels = usize::from(format.channels.max(1));
    let samples: Vec<i16> = if channels == 1 {
        mono
    } else {
        mono.iter()
            .flat_map(|&s| std::iter::repeat_n(s, channels))
            .collect()
    };
    pcm::encode(format.encoding, &samples).to_vec()
}

/// The audio of each part, in order; their concatenation is the audio of the whole.
///
/// Use it for sentence-by-sentence checks: after a failover the received audio
/// must be a run of these pieces with nothing missing.
pub fn expected_audio_per_sentence(parts: &[&str], format: AudioFormat) -> Vec<Vec<u8>> {
    parts.iter().map(|p| expected_audio(p, format)).collect()
}

/// How many bytes [`expected_audio`] returns, without making them.
pub fn expected_audio_len(text: &str, format: AudioFormat) -> usize {
    text.chars().count() * samples_per_char(format.sample_rate) * format.bytes_per_frame()
}

/// The per-character times of `text`'s audio (what `audio_timestamps` report).
pub fn expected_timestamps(text: &str, sample_rate: u32) -> Vec<CharTime> {
    let n = samples_per_char(sample_rate) as f64;
    let rate = f64::from(sample_rate.max(1));
    text.chars()
        .enumerate()
        .map(|(i, ch)| CharTime {
            ch,
            start: i as f64 * n / rate,
            end: (i + 1) as f64 * n / rate,
        })
        .collect()
}

/// The words of `text` (runs of non-whitespace) with the times of their
/// audio (at any rate): what a provider that reports word times gives for
/// [`expected_audio`].
pub fn expected_words(text: &str) -> Vec<voxwire_core::WordTime> {
    let per_char = std::time::Duration::from_millis(u64::from(MS_PER_CHAR));
    let mut words = Vec::new();
    let mut current: Option<voxwire_core::WordTime> = None;
    for (i, (at, ch)) in text.char_indices().enumerate() {
        let (start, end) = (per_char * i as u32, per_char * (i as u32 + 1));
        if ch.is_whitespace() {
            words.extend(current.take());
            continue;
        }
        let word = current.get_or_insert(voxwire_core::WordTime {
            span: voxwire_core::TextSpan { start: at, end: at },
            start,
            end,
        });
        word.span.end = at + ch.len_utf8();
        word.end = end;
    }
    words.extend(current);
    words
}

/// The body of a REST response (and the concatenated deltas of one WebSocket
/// utterance) for `text` in `codec` at `sample_rate`; mp3 at the default bit rate.
pub fn expected_body(text: &str, codec: MockCodec, sample_rate: u32) -> Vec<u8> {
    expected_body_with_bit_rate(text, codec, sample_rate, DEFAULT_BIT_RATE)
}

/// Like [`expected_body`], with the mp3 bit rate given (ignored by other codecs).
pub fn expected_body_with_bit_rate(
    text: &str,
    codec: MockCodec,
    sample_rate: u32,
    bit_rate: u32,
) -> Vec<u8> {
    match codec {
        MockCodec::Mp3 => expected_mp3(text, sample_rate, bit_rate),
        MockCodec::Wav => {
            let mut out = wav_header(sample_rate).to_vec();
            out.extend(expected_audio(text, AudioFormat::pcm16_mono(sample_rate)));
            out
        }
        MockCodec::Pcm => expected_audio(text, AudioFormat::pcm16_mono(sample_rate)),
        MockCodec::Mulaw => expected_audio(text, AudioFormat::mono(Encoding::Mulaw, sample_rate)),
        MockCodec::Alaw => expected_audio(text, AudioFormat::mono(Encoding::Alaw, sample_rate)),
    }
}

/// Where each character's audio starts in the body of [`expected_body`] (byte offsets).
pub fn char_offsets(text: &str, codec: MockCodec, sample_rate: u32, bit_rate: u32) -> Vec<usize> {
    let spc = samples_per_char(sample_rate);
    let count = text.chars().count();
    match codec.encoding() {
        Some(encoding) => {
            let header = if codec == MockCodec::Wav {
                WAV_HEADER_LEN
            } else {
                0
            };
            (0..count)
                .map(|i| header + i * spc * encoding.bytes_per_sample())
                .collect()
        }
        None => {
            let frames = Mp3Frames::new(sample_rate, bit_rate);
            let lengths = frames.frame_lengths(count * spc);
            let mut starts = Vec::with_capacity(lengths.len());
            let mut at = 0;
            for len in &lengths {
                starts.push(at);
                at += len;
            }
            (0..count)
                .map(|i| {
                    let frame = (i * spc) / frames.samples_per_frame;
                    starts.get(frame).copied().unwrap_or(at)
                })
                .collect()
        }
    }
}

/// A WAV header for streamed mono 16-bit PCM: the RIFF and `data` sizes are
/// placeholders (`0xFFFFFFFF`), as servers that stream WAV write them.
pub fn wav_header(sample_rate: u32) -> [u8; WAV_HEADER_LEN] {
    let mut h = [0u8; WAV_HEADER_LEN];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, b"RIFF");
    put(4, &u32::MAX.to_le_bytes());
    put(8, b"WAVEfmt ");
    put(16, &16u32.to_le_bytes());
    put(20, &1u16.to_le_bytes()); // PCM
    put(22, &1u16.to_le_bytes()); // mono
    put(24, &sample_rate.to_le_bytes());
    put(28, &sample_rate.saturating_mul(2).to_le_bytes());
    put(32, &2u16.to_le_bytes());
    put(34, &16u16.to_le_bytes());
    put(36, b"data");
    put(40, &u32::MAX.to_le_bytes());
    h
}

/// Silent MPEG Layer III frames as long as `text`'s audio at `sample_rate`.
///
/// MPEG-1 for 32/44.1/48 kHz, MPEG-2 for 16/22.05/24 kHz, MPEG-2.5 for 8 kHz
/// (other rates use the nearest of those); the bit rate is the nearest the
/// MPEG version allows at or below `bit_rate`. Every frame is a valid mono
/// frame with zeroed side information, which decodes to silence.
pub fn expected_mp3(text: &str, sample_rate: u32, bit_rate: u32) -> Vec<u8> {
    let frames = Mp3Frames::new(sample_rate, bit_rate);
    let total = text.chars().count() * samples_per_char(sample_rate);
    let mut out = Vec::new();
    for len in frames.frame_lengths(total) {
        let padded = len > frames.base_len;
        let mut frame = vec![0u8; len];
        frame[..4].copy_from_slice(&frames.header(padded));
        out.extend(frame);
    }
    out
}

/// MPEG Layer III framing for one sample rate and bit rate.
struct Mp3Frames {
    version_bits: u8,
    rate_index: u8,
    bitrate_index: u8,
    samples_per_frame: usize,
    /// Frame length without padding.
    base_len: usize,
    /// `coefficient * bit_rate` and the sample rate, for the padding rule.
    numerator: u64,
    sample_rate: u64,
}

impl Mp3Frames {
    fn new(sample_rate: u32, bit_rate: u32) -> Self {
        // (rate, version bits, rate index)
        const RATES: [(u32, u8, u8); 9] = [
            (44_100, 0b11, 0),
            (48_000, 0b11, 1),
            (32_000, 0b11, 2),
            (22_050, 0b10, 0),
            (24_000, 0b10, 1),
            (16_000, 0b10, 2),
            (11_025, 0b00, 0),
            (12_000, 0b00, 1),
            (8_000, 0b00, 2),
        ];
        const MPEG1_KBPS: [u32; 15] = [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        const MPEG2_KBPS: [u32; 15] =
            [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let (rate, version_bits, rate_index) = RATES
            .iter()
            .copied()
            .min_by_key(|(r, _, _)| r.abs_diff(sample_rate))
            .unwrap_or((24_000, 0b10, 1));
        let mpeg1 = version_bits == 0b11;
        let table = if mpeg1 { &MPEG1_KBPS } else { &MPEG2_KBPS };
        let kbps_wanted = (bit_rate / 1000).max(table[1]);
        let bitrate_index = (1..table.len())
            .rev()
            .find(|&i| table[i] <= kbps_wanted)
            .unwrap_or(1);
        let kbps = u64::from(table[bitrate_index]);
        let coefficient: u64 = if mpeg1 { 144 } else { 72 };
        let numerator = coefficient * kbps * 1000;
        let sample_rate = u64::from(rate);
        Self {
            version_bits,
            rate_index,
            bitrate_index: bitrate_index as u8,
            samples_per_frame: if mpeg1 { 1152 } else { 576 },
            base_len: (numerator / sample_rate) as usize,
            numerator,
            sample_rate,
        }
    }

    /// The lengths of the frames covering `samples` samples (padding spread evenly).
    fn frame_lengths(&self, samples: usize) -> Vec<usize> {
        let count = samples.div_ceil(self.samples_per_frame);
        let remainder = self.numerator % self.sample_rate;
        let mut acc = 0u64;
        (0..count)
            .map(|_| {
                acc += remainder;
                if acc >= self.sample_rate {
                    acc -= self.sample_rate;
                    self.base_len + 1
                } else {
                    self.base_len
                }
            })
            .collect()
    }

    fn header(&self, padded: bool) -> [u8; 4] {
        [
            0xFF,
            0xE0 | (self.version_bits << 3) | (0b01 << 1) | 1, // Layer III, no CRC
            (self.bitrate_index << 4) | (self.rate_index << 2) | (u8::from(padded) << 1),
            0b11 << 6, // mono
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_of_a_concatenation_is_the_concatenation_of_audio() {
        for format in [
            AudioFormat::pcm16_mono(24_000),
            AudioFormat::mono(Encoding::Mulaw, 8_000),
            AudioFormat::mono(Encoding::Alaw, 22_050),
        ] {
            let a = "Hello there. ";
            let b = "How are you?";
            let mut joined = expected_audio(a, format);
            joined.extend(expected_audio(b, format));
            assert_eq!(joined, expected_audio(&format!("{a}{b}"), format));
            assert_eq!(
                joined.len(),
                expected_audio_len("Hello there. How are you?", format)
            );
            let parts = expected_audio_per_sentence(&[a, b], format);
            assert_eq!(parts.concat(), joined);
        }
    }

    #[test]
    fn audio_is_sixty_ms_per_char_and_audible() {
        let format = AudioFormat::pcm16_mono(24_000);
        let bytes = expected_audio("ab", format);
        assert_eq!(format.duration_of(bytes.len()).as_millis(), 120);
        let samples = pcm::decode(Encoding::PcmS16le, &bytes);
        assert!(pcm::rms(&samples) > 1000.0);
        assert_eq!(pcm::rms(&expected_samples("   ", 16_000)), 0.0);
        // Different characters sound different.
        assert_ne!(expected_samples("a", 16_000), expected_samples("b", 16_000));
    }

    #[test]
    fn every_rate_gives_whole_samples_per_char() {
        for rate in SAMPLE_RATES {
            assert_eq!(samples_per_char(rate) * 1000, rate as usize * 60);
            let ts = expected_timestamps("hi!", rate);
            assert_eq!(ts.len(), 3);
            assert!((ts[2].end - 0.18).abs() < 1e-9);
        }
    }

    #[test]
    fn stereo_repeats_samples() {
        let mut f = AudioFormat::pcm16_mono(8_000);
        f.channels = 2;
        let st = expected_audio("x", f);
        let mono = expected_audio("x", AudioFormat::pcm16_mono(8_000));
        assert_eq!(st.len(), mono.len() * 2);
        assert_eq!(&st[0..2], &st[2..4]);
    }

    #[test]
    fn wav_body_parses_with_the_core_stream_parser() {
        use voxwire_core::audio::wav::WavStreamParser;
        let body = expected_body("wav!", MockCodec::Wav, 16_000);
        let mut p = WavStreamParser::new();
        let piece = p.push(bytes::Bytes::from(body)).expect("valid wav");
        assert_eq!(piece.format, Some(AudioFormat::pcm16_mono(16_000)));
        assert_eq!(
            &piece.data[..],
            &expected_audio("wav!", AudioFormat::pcm16_mono(16_000))[..]
        );
    }

    #[test]
    fn mp3_frames_are_well_formed_and_long_enough() {
        for (rate, spf) in [(44_100, 1152), (24_000, 576), (8_000, 576), (48_000, 1152)] {
            let text = "Hello, world";
            let body = expected_mp3(text, rate, 128_000);
            let mut at = 0;
            let mut frames = 0;
            while at < body.len() {
                assert_eq!(body[at], 0xFF, "sync at {at}");
                assert_eq!(body[at + 1] & 0xE0, 0xE0);
                assert_eq!((body[at + 1] >> 1) & 0b11, 0b01, "layer III");
                let frames_info = Mp3Frames::new(rate, 128_000);
                let padded = (body[at + 2] >> 1) & 1 == 1;
                at += frames_info.base_len + usize::from(padded);
                frames += 1;
            }
            assert_eq!(at, body.len());
            let samples = text.chars().count() * samples_per_char(rate);
            assert_eq!(frames, samples.div_ceil(spf));
            // Timestamps point at frame starts inside the body.
            let offsets = char_offsets(text, MockCodec::Mp3, rate, 128_000);
            assert!(offsets.iter().all(|&o| o < body.len()));
        }
    }

    #[test]
    fn codec_names_parse_like_xai() {
        assert_eq!(MockCodec::parse("ULAW"), Some(MockCodec::Mulaw));
        assert_eq!(MockCodec::parse("mulaw"), Some(MockCodec::Mulaw));
        assert_eq!(MockCodec::parse("Wav"), Some(MockCodec::Wav));
        assert_eq!(MockCodec::parse("opus"), None);
    }
}
