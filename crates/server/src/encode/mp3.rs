//! mp3 through LAME (`mp3lame-encoder`, LGPL-3.0): constant bit rate, mono,
//! at the chain's rate (24 kHz is MPEG-2 Layer III, as OpenAI serves it), no
//! Xing/LAME tag (a stream cannot go back to fill it in).

use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};

use super::{EncodeError, Samples};

/// 64 kb/s: transparent for 24 kHz mono speech, a fifth of the PCM.
const BITRATE: Bitrate = Bitrate::Kbps64;

/// One response's LAME encoder.
pub struct Mp3 {
    lame: mp3lame_encoder::Encoder,
    samples: Samples,
    buffer: Vec<i16>,
}

impl Mp3 {
    /// An encoder for mono PCM at `sample_rate`.
    pub fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let fail = |what: &str, e: &dyn std::fmt::Debug| EncodeError(format!("LAME {what}: {e:?}"));
        let mut builder = Builder::new().ok_or_else(|| EncodeError("LAME: no memory".into()))?;
        builder
            .set_num_channels(1)
            .map_err(|e| fail("channels", &e))?;
        builder
            .set_sample_rate(sample_rate)
            .map_err(|e| fail("sample rate", &e))?;
        builder
            .set_brate(BITRATE)
            .map_err(|e| fail("bit rate", &e))?;
        builder.set_mode(Mode::Mono).map_err(|e| fail("mode", &e))?;
        builder
            .set_quality(Quality::Good)
            .map_err(|e| fail("quality", &e))?;
        builder
            .set_to_write_vbr_tag(false)
            .map_err(|e| fail("tag", &e))?;
        let lame = builder.build().map_err(|e| fail("init", &e))?;
        Ok(Mp3 {
            lame,
            samples: Samples::default(),
            buffer: Vec::new(),
        })
    }

    /// Encodes `pcm`; returns the frames LAME has completed.
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<u8>, EncodeError> {
        self.buffer.clear();
        self.samples.extend(pcm, &mut self.buffer);
        let mut out =
            Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(self.buffer.len()));
        self.lame
            .encode_to_vec(MonoPcm(&self.buffer), &mut out)
            .map_err(|e| EncodeError(format!("LAME encode: {e}")))?;
        Ok(out)
    }

    /// Flushes LAME's last frames.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        // LAME pads the last frame with silence so no audio is left out;
        // 7200 bytes is its documented worst case for a flush.
        let mut out = Vec::with_capacity(7200);
        self.lame
            .flush_to_vec::<FlushGap>(&mut out)
            .map_err(|e| EncodeError(format!("LAME flush: {e}")))?;
        Ok(out)
    }
}
