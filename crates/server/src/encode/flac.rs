//! FLAC through `flacenc` (pure Rust, Apache-2.0): `fLaC` and a STREAMINFO
//! block (total samples and MD5 unknown, as a stream cannot go back to fill
//! them in), then a frame per 1152 samples (48 ms at 24 kHz) as soon as
//! they are there; the last frame holds what is left.

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};

use super::{EncodeError, Samples};

/// Samples per frame: a standard FLAC block size, short enough to stream.
const BLOCK: usize = 1152;

/// The shortest frame flacenc encodes; a shorter last frame is padded.
const MIN_BLOCK: usize = 32;

/// One response's FLAC encoder.
pub struct Flac {
    config: Verified<config::Encoder>,
    info: StreamInfo,
    samples: Samples,
    pending: Vec<i16>,
    frames: usize,
    started: bool,
}

fn failed(what: &str, e: impl std::fmt::Debug) -> EncodeError {
    EncodeError(format!("flac {what}: {e:?}"))
}

impl Flac {
    /// An encoder for mono 16-bit PCM at `sample_rate`.
    pub fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let config = config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| failed("config", e))?;
        let mut info =
            StreamInfo::new(sample_rate as usize, 1, 16).map_err(|e| failed("stream info", e))?;
        info.set_block_sizes(BLOCK, BLOCK)
            .map_err(|e| failed("block size", e))?;
        Ok(Flac {
            config,
            info,
            samples: Samples::default(),
            pending: Vec::new(),
            frames: 0,
            started: false,
        })
    }

    fn header(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.started {
            let mut sink = MemSink::<u8>::new();
            Stream::with_stream_info(self.info.clone())
                .write(&mut sink)
                .map_err(|e| failed("header", e))?;
            out.extend_from_slice(sink.as_slice());
            self.started = true;
        }
        Ok(())
    }

    fn frame(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut buffer =
            FrameBuf::with_size(1, pcm.len().max(MIN_BLOCK)).map_err(|e| failed("frame", e))?;
        let wide: Vec<i32> = pcm.iter().map(|&s| i32::from(s)).collect();
        buffer
            .fill_interleaved(&wide)
            .map_err(|e| failed("fill", e))?;
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &buffer, self.frames, &self.info)
                .map_err(|e| failed("encode", e))?;
        self.frames += 1;
        let mut sink = MemSink::<u8>::new();
        frame.write(&mut sink).map_err(|e| failed("write", e))?;
        out.extend_from_slice(sink.as_slice());
        Ok(())
    }

    /// Encodes `pcm`; returns the header (first) and every whole frame.
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.header(&mut out)?;
        self.samples.extend(pcm, &mut self.pending);
        let whole = self.pending.len() / BLOCK * BLOCK;
        let pending = std::mem::take(&mut self.pending);
        for block in pending[..whole].chunks_exact(BLOCK) {
            self.frame(block, &mut out)?;
        }
        self.pending = pending[whole..].to_vec();
        Ok(out)
    }

    /// The last, shorter frame.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.header(&mut out)?;
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.frame(&rest, &mut out)?;
        }
        Ok(out)
    }
}
