//! Playback: each chunk becomes an AudioBuffer scheduled right after the
//! previous one, so chunks join sample-exactly (no clicks at the seams) and
//! playback starts with the first chunk. A gap (the next chunk arrived after
//! the previous one finished) is counted as an underrun.
//!
//! The audio context runs at the stream's own rate, so no buffer is resampled
//! on its own (which would smear its edges); the browser converts the mixed
//! output to the device's rate in one continuous stream.

use wasm_bindgen::JsValue;
use web_sys::{
    AnalyserNode, AudioBufferSourceNode, AudioContext, AudioContextOptions, AudioContextState,
    BaseAudioContext,
};

/// Seconds between the arrival of the first chunk and its start: enough for
/// the audio thread to pick it up, short enough to be unnoticeable.
const LEAD_S: f64 = 0.02;

pub(crate) struct Player {
    ctx: BaseAudioContext,
    /// The live context (not an offline one), to resume when the browser suspended it.
    live: Option<AudioContext>,
    rate: u32,
    /// When the last scheduled buffer ends (audio-context time); 0 = idle.
    next_time: f64,
    sources: Vec<(AudioBufferSourceNode, f64)>,
    carry: Option<u8>,
    pub underruns: u32,
    /// Between the sources and the output: what is heard, for the level meter.
    analyser: Option<AnalyserNode>,
}

/// Samples the level meter looks at (about 43 ms at 24 kHz).
const METER_WINDOW: u32 = 1024;

impl Player {
    /// Plays to the speakers, through a context at `rate` (or the device's
    /// rate if the browser refuses that one).
    pub fn new(rate: u32) -> Result<Self, JsValue> {
        let options = AudioContextOptions::new();
        options.set_sample_rate(rate as f32);
        let ctx =
            AudioContext::new_with_context_options(&options).or_else(|_| AudioContext::new())?;
        let _ = ctx.resume();
        let mut player = Self::with_context(ctx.clone().into(), rate);
        player.live = Some(ctx);
        Ok(player)
    }

    /// Plays into any context (an `OfflineAudioContext` in tests).
    pub fn with_context(ctx: BaseAudioContext, rate: u32) -> Self {
        let analyser = ctx.create_analyser().ok().filter(|a| {
            a.set_fft_size(METER_WINDOW);
            a.connect_with_audio_node(&ctx.destination()).is_ok()
        });
        Self {
            analyser,
            ctx,
            live: None,
            rate,
            next_time: 0.0,
            sources: Vec::new(),
            carry: None,
            underruns: 0,
        }
    }

    /// The audio clock, in seconds.
    pub fn now(&self) -> f64 {
        self.ctx.current_time()
    }

    /// Schedules 16-bit little-endian PCM; returns when (audio clock) it starts.
    pub fn play(&mut self, bytes: &[u8]) -> Result<Option<f64>, JsValue> {
        // A context made before any user gesture starts suspended; once the
        // page has had one, resuming works.
        if let Some(live) = &self.live {
            if live.state() == AudioContextState::Suspended {
                let _ = live.resume();
            }
        }
        let mut joined = Vec::with_capacity(bytes.len() + 1);
        joined.extend(self.carry.take());
        joined.extend_from_slice(bytes);
        if joined.len() % 2 == 1 {
            self.carry = joined.pop();
        }
        if joined.is_empty() {
            return Ok(None);
        }
        let samples: Vec<f32> = joined
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let frames = samples.len() as u32;
        let buffer = self.ctx.create_buffer(1, frames, self.rate as f32)?;
        buffer.copy_to_channel(&samples, 0)?;
        let source = self.ctx.create_buffer_source()?;
        source.set_buffer(Some(&buffer));
        match &self.analyser {
            Some(analyser) => source.connect_with_audio_node(analyser)?,
            None => source.connect_with_audio_node(&self.ctx.destination())?,
        };
        let now = self.now();
        let start = if self.next_time == 0.0 {
            now + LEAD_S
        } else if self.next_time < now {
            self.underruns += 1;
            now + LEAD_S
        } else {
            self.next_time
        };
        source.start_with_when(start)?;
        self.next_time = start + f64::from(frames) / f64::from(self.rate);
        self.sources.retain(|(_, end)| *end > now);
        self.sources.push((source, self.next_time));
        Ok(Some(start))
    }

    /// The RMS level (0 to 1) of the audio being heard now.
    pub fn level(&self) -> f64 {
        let Some(analyser) = &self.analyser else {
            return 0.0;
        };
        let mut window = vec![0f32; METER_WINDOW as usize];
        analyser.get_float_time_domain_data(&mut window);
        let sum: f64 = window.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
        (sum / f64::from(METER_WINDOW)).sqrt().min(1.0)
    }

    /// Seconds of scheduled audio still to play.
    pub fn remaining(&self) -> f64 {
        (self.next_time - self.now()).max(0.0)
    }

    /// Marks the end of an utterance: the next one starts fresh (no underrun counted).
    pub fn utterance_done(&mut self) {
        self.carry = None;
    }

    /// Stops everything scheduled, now.
    pub fn stop(&mut self) {
        for (source, _) in self.sources.drain(..) {
            #[allow(deprecated)]
            let _ = source.stop();
        }
        self.next_time = 0.0;
        self.carry = None;
    }

    /// After an utterance has played out, the next starts with a fresh lead.
    pub fn idle_if_done(&mut self) {
        if self.next_time != 0.0 && self.next_time <= self.now() {
            self.next_time = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;
    use web_sys::{AudioBuffer, OfflineAudioContext};

    wasm_bindgen_test_configure!(run_in_browser);

    /// Chunks of every odd size, split mid-sample too, rendered offline: the
    /// output is the input, sample for sample, with no jump at any seam.
    #[wasm_bindgen_test]
    async fn chunks_join_sample_exactly() {
        let rate = 24_000u32;
        let source: Vec<i16> = (0..(rate as usize * 8 / 10))
            .map(|n| {
                (16_000.0 * (n as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin())
                    as i16
            })
            .collect();
        let bytes: Vec<u8> = source.iter().flat_map(|s| s.to_le_bytes()).collect();
        let ctx = OfflineAudioContext::new_with_number_of_channels_and_length_and_sample_rate(
            1,
            rate,
            rate as f32,
        )
        .unwrap();
        let mut player = Player::with_context(ctx.clone().into(), rate);
        let (mut at, mut size, mut seams) = (0usize, 1usize, 0);
        while at < bytes.len() {
            let end = (at + size).min(bytes.len());
            player.play(&bytes[at..end]).unwrap();
            at = end;
            size = size % 997 + 7; // 1, 8, 15, ... odd and even sizes
            seams += 1;
        }
        assert_eq!(player.underruns, 0);
        let rendered: AudioBuffer = JsFuture::from(ctx.start_rendering().unwrap())
            .await
            .unwrap()
            .into();
        let out = rendered.get_channel_data(0).unwrap();
        let lead = out.iter().position(|v| *v != 0.0).unwrap();
        let mut worst = 0f32;
        for (i, s) in source.iter().enumerate().skip(1) {
            worst = worst.max((out[lead + i - 1] - f32::from(*s) / 32768.0).abs());
        }
        let natural = source
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        let jump = out[lead..lead + source.len()]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0f32, f32::max);
        web_sys::console::log_1(
            &format!(
                "{seams} seams: worst sample error {worst:e}, largest step {jump} (source {})",
                natural as f32 / 32768.0
            )
            .into(),
        );
        assert!(
            worst < 1e-4,
            "rendered audio differs from the source by {worst}"
        );
        assert!(
            jump <= natural as f32 / 32768.0 + 1e-4,
            "a click: step {jump}"
        );
    }
}
