//! A cached sentence's audio and times, and its checked byte form.
//!
//! Every store keeps the same bytes: `VXPC`, a version byte, the metadata's
//! and the audio's lengths, the first 16 bytes of a SHA-256 over both, then
//! the metadata (JSON: the format and each chunk's length, span, times and
//! words) and the audio. A value whose lengths or checksum do not match is
//! read as a miss, never played.

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use voxwire_core::{AudioFormat, SpanTimes, TextSpan, WordTime};

const MAGIC: &[u8; 4] = b"VXPC";
const VERSION: u8 = 1;
const CHECKSUM_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 4 + 8 + CHECKSUM_LEN;

/// One chunk of a cached sentence as it was handed on: spans and words in
/// the sentence's normalised text, times from the sentence's first audio.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedChunk {
    /// Audio in the phrase's format.
    pub data: Bytes,
    /// The text it speaks, if the entry said.
    pub span: Option<TextSpan>,
    /// When that text is spoken, if the entry said.
    pub times: Option<SpanTimes>,
    /// The words it timed.
    pub words: Vec<WordTime>,
}

/// A sentence's whole audio, as one entry spoke it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedPhrase {
    /// The audio's format (the session's output format when it was stored).
    pub format: AudioFormat,
    /// The chunks, in order.
    pub chunks: Vec<CachedChunk>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: AudioFormat,
    chunks: Vec<ChunkMeta>,
}

#[derive(Serialize, Deserialize)]
struct ChunkMeta {
    len: usize,
    span: Option<TextSpan>,
    times: Option<SpanTimes>,
    words: Vec<WordTime>,
}

fn checksum(meta: &[u8], audio: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hash = Sha256::new();
    hash.update(meta);
    hash.update(audio);
    let digest = hash.finalize();
    let mut sum = [0u8; CHECKSUM_LEN];
    sum.copy_from_slice(&digest[..CHECKSUM_LEN]);
    sum
}

impl CachedPhrase {
    /// Bytes of audio.
    pub fn audio_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.data.len()).sum()
    }

    /// The checked byte form every store keeps.
    pub fn encode(&self) -> Bytes {
        let meta = Meta {
            format: self.format,
            chunks: self
                .chunks
                .iter()
                .map(|c| ChunkMeta {
                    len: c.data.len(),
                    span: c.span,
                    times: c.times,
                    words: c.words.clone(),
                })
                .collect(),
        };
        // Plain data with derived Serialize: it cannot fail to encode.
        let meta = serde_json::to_vec(&meta).unwrap_or_default();
        let audio_len = self.audio_bytes();
        let mut out = BytesMut::with_capacity(HEADER_LEN + meta.len() + audio_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION]);
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&(audio_len as u64).to_le_bytes());
        let sum_at = out.len();
        out.extend_from_slice(&[0u8; CHECKSUM_LEN]);
        out.extend_from_slice(&meta);
        for chunk in &self.chunks {
            out.extend_from_slice(&chunk.data);
        }
        let sum = checksum(&meta, &out[HEADER_LEN + meta.len()..]);
        out[sum_at..sum_at + CHECKSUM_LEN].copy_from_slice(&sum);
        out.freeze()
    }

    /// Reads bytes [`encode`](Self::encode) wrote; `None` when anything does
    /// not check out (magic, version, lengths, checksum, metadata, or a
    /// chunk length that is not whole frames of its format).
    pub fn decode(bytes: &Bytes) -> Option<Self> {
        let header = bytes.get(..HEADER_LEN)?;
        if &header[..4] != MAGIC || header[4] != VERSION {
            return None;
        }
        let meta_len = u32::from_le_bytes(header[5..9].try_into().ok()?) as usize;
        let audio_len = usize::try_from(u64::from_le_bytes(header[9..17].try_into().ok()?)).ok()?;
        if bytes.len() != HEADER_LEN.checked_add(meta_len)?.checked_add(audio_len)? {
            return None;
        }
        let meta_bytes = &bytes[HEADER_LEN..HEADER_LEN + meta_len];
        let audio = bytes.slice(HEADER_LEN + meta_len..);
        if checksum(meta_bytes, &audio) != header[17..17 + CHECKSUM_LEN] {
            return None;
        }
        let meta: Meta = serde_json::from_slice(meta_bytes).ok()?;
        let frame = meta.format.bytes_per_frame().max(1);
        let mut at = 0usize;
        let mut chunks = Vec::with_capacity(meta.chunks.len());
        for chunk in meta.chunks {
            let end = at.checked_add(chunk.len)?;
            if end > audio.len() || chunk.len % frame != 0 {
                return None;
            }
            chunks.push(CachedChunk {
                data: audio.slice(at..end),
                span: chunk.span,
                times: chunk.times,
                words: chunk.words,
            });
            at = end;
        }
        (at == audio.len()).then_some(Self {
            format: meta.format,
            chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn phrase() -> CachedPhrase {
        CachedPhrase {
            format: AudioFormat::pcm16_mono(16_000),
            chunks: vec![
                CachedChunk {
                    data: Bytes::from(vec![1u8; 640]),
                    span: Some(TextSpan { start: 0, end: 5 }),
                    times: None,
                    words: vec![WordTime {
                        span: TextSpan { start: 0, end: 5 },
                        start: Duration::ZERO,
                        end: Duration::from_millis(20),
                    }],
                },
                CachedChunk {
                    data: Bytes::from(vec![2u8; 320]),
                    span: None,
                    times: Some(SpanTimes {
                        start: Duration::from_millis(20),
                        end: Duration::from_millis(30),
                    }),
                    words: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn a_phrase_reads_back_as_it_was() {
        let p = phrase();
        assert_eq!(CachedPhrase::decode(&p.encode()), Some(p));
    }

    #[test]
    fn any_damage_is_a_miss() {
        let good = phrase().encode();
        for at in [0, 4, 6, 12, 20, HEADER_LEN + 3, good.len() - 1] {
            let mut bad = good.to_vec();
            bad[at] ^= 0x40;
            assert_eq!(
                CachedPhrase::decode(&Bytes::from(bad)),
                None,
                "byte {at} flipped"
            );
        }
        assert_eq!(
            CachedPhrase::decode(&good.slice(..good.len() - 2)),
            None,
            "cut short"
        );
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(CachedPhrase::decode(&Bytes::from(long)), None, "too long");
        assert_eq!(CachedPhrase::decode(&Bytes::new()), None);
    }
}
