//! Playback: each chunk becomes an AudioBuffer scheduled right after the
//! previous one, so chunks join sample-exactly (no clicks at the seams) and
//! playback starts with the first chunk. A gap (the next chunk arrived after
//! the previous one finished) is counted as an underrun.

use wasm_bindgen::JsValue;
use web_sys::{AudioBufferSourceNode, AudioContext};

/// Seconds between the arrival of the first chunk and its start: enough for
/// the audio thread to pick it up, short enough to be unnoticeable.
const LEAD_S: f64 = 0.02;

pub(crate) struct Player {
    ctx: AudioContext,
    rate: u32,
    /// When the last scheduled buffer ends (audio-context time); 0 = idle.
    next_time: f64,
    sources: Vec<(AudioBufferSourceNode, f64)>,
    carry: Option<u8>,
    pub underruns: u32,
}

impl Player {
    pub fn new(rate: u32) -> Result<Self, JsValue> {
        let ctx = AudioContext::new()?;
        let _ = ctx.resume();
        Ok(Self {
            ctx,
            rate,
            next_time: 0.0,
            sources: Vec::new(),
            carry: None,
            underruns: 0,
        })
    }

    /// The audio clock, in seconds.
    pub fn now(&self) -> f64 {
        self.ctx.current_time()
    }

    /// Schedules 16-bit little-endian PCM; returns when (audio clock) it starts.
    pub fn play(&mut self, bytes: &[u8]) -> Result<Option<f64>, JsValue> {
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
        source.connect_with_audio_node(&self.ctx.destination())?;
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
