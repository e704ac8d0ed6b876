//! Opus in Ogg, as OpenAI serves `opus`: an `OpusHead` page, an `OpusTags`
//! page, then 20 ms packets, one page per pushed chunk (RFC 7845). The
//! encoder is `opus-rs`, a pure-Rust port of libopus (BSD-3-Clause): no
//! cmake, no system libopus.

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus_rs::{Application, OpusEncoder};

use super::{EncodeError, Samples};

/// Speech at 32 kb/s is transparent-to-good in Opus's fullband-capable modes.
const BITRATE: i32 = 32_000;

/// libopus's encoder lookahead at 48 kHz (2.5 ms + 4 ms), the pre-skip.
const PRE_SKIP: u16 = 312;

/// The Ogg stream's serial number (one logical stream per response).
const SERIAL: u32 = 0x766f_7877;

/// The largest Opus packet (RFC 6716).
const MAX_PACKET: usize = 1276;

/// One response's Ogg Opus encoder.
pub struct OggOpus {
    opus: OpusEncoder,
    ogg: PacketWriter<'static, Vec<u8>>,
    samples: Samples,
    /// PCM not yet a whole frame.
    pending: Vec<i16>,
    /// Samples per 20 ms frame at the input rate.
    frame: usize,
    /// 48 kHz ticks per input sample.
    ticks: u64,
    /// Input samples encoded so far (padding excluded).
    encoded: u64,
    /// The headers are written with the first audio.
    started: bool,
    sample_rate: u32,
    packet: Vec<u8>,
}

impl OggOpus {
    /// An encoder for mono PCM at `sample_rate` (8, 12, 16, 24 or 48 kHz).
    pub fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let rate = i32::try_from(sample_rate)
            .map_err(|_| EncodeError(format!("opus: no {sample_rate} Hz")))?;
        let mut opus = OpusEncoder::new(rate, 1, Application::Audio)
            .map_err(|e| EncodeError(format!("opus: {e} ({sample_rate} Hz)")))?;
        opus.bitrate_bps = BITRATE;
        opus.complexity = 10;
        Ok(OggOpus {
            opus,
            ogg: PacketWriter::new(Vec::new()),
            samples: Samples::default(),
            pending: Vec::new(),
            frame: (sample_rate / 50) as usize,
            ticks: u64::from(48_000 / sample_rate),
            encoded: 0,
            started: false,
            sample_rate,
            packet: vec![0; MAX_PACKET],
        })
    }

    fn headers(&mut self) -> Result<(), EncodeError> {
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&PRE_SKIP.to_le_bytes());
        head.extend_from_slice(&self.sample_rate.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family
        let vendor = b"voxwire (opus-rs)";
        let mut tags = Vec::with_capacity(16 + vendor.len());
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes()); // no comments
        for packet in [head, tags] {
            self.ogg
                .write_packet(packet, SERIAL, PacketWriteEndInfo::EndPage, 0)
                .map_err(|e| EncodeError(format!("ogg: {e}")))?;
        }
        self.started = true;
        Ok(())
    }

    /// Encodes every whole frame pending and writes each as a packet; the
    /// last one ends the page (so the page leaves now), or with `end` the
    /// stream, at the granule of `end`'s samples spoken.
    fn drain(&mut self, end: Option<u64>) -> Result<(), EncodeError> {
        let frames = self.pending.len() / self.frame;
        for i in 0..frames {
            let pcm = &self.pending[i * self.frame..(i + 1) * self.frame];
            let len = self
                .opus
                .encode_i16(pcm, self.frame, &mut self.packet)
                .map_err(|e| EncodeError(format!("opus: {e}")))?;
            self.encoded += self.frame as u64;
            let (info, samples) = match end {
                _ if i + 1 < frames => (PacketWriteEndInfo::NormalPacket, self.encoded),
                None => (PacketWriteEndInfo::EndPage, self.encoded),
                Some(spoken) => (PacketWriteEndInfo::EndStream, spoken),
            };
            let granule = u64::from(PRE_SKIP) + samples * self.ticks;
            self.ogg
                .write_packet(self.packet[..len].to_vec(), SERIAL, info, granule)
                .map_err(|e| EncodeError(format!("ogg: {e}")))?;
        }
        self.pending.drain(..frames * self.frame);
        Ok(())
    }

    /// Encodes `pcm`; returns the pages completed (headers first).
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<u8>, EncodeError> {
        if !self.started {
            self.headers()?;
        }
        self.samples.extend(pcm, &mut self.pending);
        self.drain(None)?;
        Ok(std::mem::take(self.ogg.inner_mut()))
    }

    /// Pads the last frame (and the encoder's lookahead) with silence and
    /// ends the stream; the last granule position trims the padding.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        if !self.started {
            self.headers()?;
        }
        let spoken = self.encoded + self.pending.len() as u64;
        let lookahead = (usize::from(PRE_SKIP) / self.ticks as usize).max(1);
        let target = (self.pending.len() + lookahead).div_ceil(self.frame) * self.frame;
        self.pending.resize(target, 0);
        self.drain(Some(spoken))?;
        Ok(std::mem::take(self.ogg.inner_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_tone_is_ogg_opus_with_the_right_end_granule() {
        let mut enc = OggOpus::new(24_000).unwrap();
        let pcm: Vec<u8> = (0..24_000)
            .flat_map(|i| (((i as f32 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
            .collect();
        let mut out = enc.push(&pcm[..1001]).unwrap();
        assert_eq!(&out[..4], b"OggS");
        assert!(out.windows(8).any(|w| w == b"OpusHead"));
        out.extend(enc.push(&pcm[1001..]).unwrap());
        out.extend(enc.finish().unwrap());
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(out));
        let mut last = None;
        while let Some(p) = reader.read_packet().unwrap() {
            last = Some((p.absgp_page(), p.last_in_stream()));
        }
        assert_eq!(last, Some((u64::from(PRE_SKIP) + 48_000, true)));
    }
}
