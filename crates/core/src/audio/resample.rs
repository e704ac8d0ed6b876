//! Streaming sample-rate conversion on top of rubato's FFT resampler.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::{ErrorKind, Result, TtsError};

/// Frames rubato consumes per call: small enough to keep first-audio latency
/// low (about 11 ms at 22.05 kHz), large enough to stay efficient.
const CHUNK_FRAMES: usize = 256;

/// Converts interleaved `f32` audio from one rate to another, chunk by chunk,
/// with the resampler's start-up delay trimmed and the tail flushed, so the
/// output is exactly `ceil(frames_in * to / from)` frames long.
pub struct StreamResampler {
    inner: Fft<f32>,
    channels: usize,
    ratio: f64,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("channels", &self.channels)
            .field("ratio", &self.ratio)
            .field("frames_in", &self.frames_in)
            .field("frames_out", &self.frames_out)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from_rate` to `to_rate` for `channels` interleaved channels.
    pub fn new(from_rate: u32, to_rate: u32, channels: usize) -> Result<Self> {
        let inner = Fft::<f32>::new(
            from_rate as usize,
            to_rate as usize,
            CHUNK_FRAMES,
            channels.max(1),
            FixedSync::Input,
        )
        .map_err(|e| {
            TtsError::new(
                ErrorKind::InvalidInput,
                format!("cannot resample {from_rate} Hz to {to_rate} Hz: {e}"),
            )
        })?;
        let delay_left = inner.output_delay();
        let scratch = vec![0.0; inner.output_frames_max() * channels.max(1)];
        Ok(Self {
            inner,
            channels: channels.max(1),
            ratio: f64::from(to_rate) / f64::from(from_rate),
            pending: Vec::new(),
            scratch,
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resamples the next interleaved samples; returns what is ready (may be empty).
    pub fn process(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        self.frames_in += (input.len() / self.channels) as u64;
        self.pending.extend_from_slice(input);
        let mut out = Vec::new();
        while self.pending.len() / self.channels >= self.inner.input_frames_next() {
            self.run_one_chunk(&mut out)?;
        }
        Ok(out)
    }

    /// Flushes the tail: pads with silence and returns the last frames, so the
    /// total output length matches the input duration.
    pub fn finish(&mut self) -> Result<Vec<f32>> {
        let expected = (self.frames_in as f64 * self.ratio).ceil() as u64;
        let mut out = Vec::new();
        let mut guard = 0;
        while self.frames_out < expected {
            let need = self.inner.input_frames_next() * self.channels;
            if self.pending.len() < need {
                self.pending.resize(need, 0.0);
            }
            self.run_one_chunk(&mut out)?;
            guard += 1;
            if guard > 1000 {
                return Err(TtsError::new(
                    ErrorKind::Internal,
                    "resampler did not drain its tail",
                ));
            }
        }
        let surplus = (self.frames_out - expected) as usize * self.channels;
        out.truncate(out.len().saturating_sub(surplus));
        self.frames_out = expected;
        self.pending.clear();
        Ok(out)
    }

    fn run_one_chunk(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let frames = self.inner.input_frames_next();
        let input = InterleavedSlice::new(
            &self.pending[..frames * self.channels],
            self.channels,
            frames,
        )
        .map_err(|e| internal(&e))?;
        let out_frames = self.scratch.len() / self.channels;
        let mut output = InterleavedSlice::new_mut(&mut self.scratch, self.channels, out_frames)
            .map_err(|e| internal(&e))?;
        let (used, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| internal(&e))?;
        self.pending.drain(..used * self.channels);
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        out.extend_from_slice(&self.scratch[skip * self.channels..produced * self.channels]);
        self.frames_out += (produced - skip) as u64;
        Ok(())
    }
}

fn internal(e: &dyn std::fmt::Display) -> TtsError {
    TtsError::new(ErrorKind::Internal, format!("resampler failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn output_length_matches_duration_for_any_push_pattern() {
        for (from, to) in [
            (22_050, 24_000),
            (24_000, 8_000),
            (16_000, 48_000),
            (44_100, 22_050),
        ] {
            let input = sine(from, 440.0, from as usize / 3 + 17);
            for piece in [1usize, 100, 4096] {
                let mut r = StreamResampler::new(from, to, 1).unwrap();
                let mut out = Vec::new();
                for c in input.chunks(piece) {
                    out.extend(r.process(c).unwrap());
                }
                out.extend(r.finish().unwrap());
                let expected =
                    (input.len() as f64 * f64::from(to) / f64::from(from)).ceil() as usize;
                assert_eq!(out.len(), expected, "{from}->{to} piece {piece}");
            }
        }
    }

    #[test]
    fn a_sine_keeps_its_level_and_phase_alignment() {
        let (from, to) = (22_050, 24_000);
        let input = sine(from, 300.0, 22_050);
        let mut r = StreamResampler::new(from, to, 1).unwrap();
        let mut out = r.process(&input).unwrap();
        out.extend(r.finish().unwrap());
        let reference = sine(to, 300.0, out.len());
        // Compare the middle (edges carry filter ramps): same signal, no delay left.
        let mid = &out[2000..20_000];
        let err: f32 = mid
            .iter()
            .zip(&reference[2000..20_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }
}
