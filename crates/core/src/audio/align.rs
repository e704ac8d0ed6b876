//! Cutting arbitrary byte streams at sample boundaries.

use bytes::{Bytes, BytesMut};

/// Re-frames a byte stream whose chunk boundaries are arbitrary (HTTP chunks,
/// WebSocket frames, pipe reads) into pieces that hold whole frames only,
/// carrying the odd bytes over to the next push.
#[derive(Debug)]
pub struct SampleAligner {
    frame_bytes: usize,
    carry: BytesMut,
}

impl SampleAligner {
    /// An aligner for frames of `frame_bytes` bytes (at least 1).
    pub fn new(frame_bytes: usize) -> Self {
        Self {
            frame_bytes: frame_bytes.max(1),
            carry: BytesMut::new(),
        }
    }

    /// Adds bytes; returns the whole frames now available (possibly empty).
    pub fn push(&mut self, data: Bytes) -> Bytes {
        if self.carry.is_empty() && data.len() % self.frame_bytes == 0 {
            return data; // the common case costs nothing
        }
        self.carry.extend_from_slice(&data);
        let whole = self.carry.len() - self.carry.len() % self.frame_bytes;
        self.carry.split_to(whole).freeze()
    }

    /// Bytes held back because they do not yet make a whole frame.
    pub fn pending(&self) -> usize {
        self.carry.len()
    }

    /// Ends the stream: `Err(n)` when `n` bytes of a partial frame were left over.
    pub fn finish(&mut self) -> Result<(), usize> {
        let left = self.carry.len();
        self.carry.clear();
        if left == 0 {
            Ok(())
        } else {
            Err(left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_split_gives_back_the_same_bytes_in_whole_frames() {
        let data: Vec<u8> = (0..=255u8).cycle().take(4 * 999).collect();
        for frame in [1usize, 2, 4] {
            for piece in 1..=9 {
                let mut aligner = SampleAligner::new(frame);
                let mut out = Vec::new();
                for chunk in data.chunks(piece) {
                    let got = aligner.push(Bytes::copy_from_slice(chunk));
                    assert_eq!(got.len() % frame, 0);
                    out.extend_from_slice(&got);
                }
                assert_eq!(aligner.finish(), Ok(()));
                assert_eq!(out, data, "frame {frame} piece {piece}");
            }
        }
    }

    #[test]
    fn a_dangling_partial_frame_is_reported() {
        let mut aligner = SampleAligner::new(2);
        assert!(aligner.push(Bytes::from_static(&[1, 2, 3])).len() == 2);
        assert_eq!(aligner.pending(), 1);
        assert_eq!(aligner.finish(), Err(1));
    }
}
