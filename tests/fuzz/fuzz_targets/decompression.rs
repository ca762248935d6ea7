//! Compressed batch bodies from a hostile producer, through both codec entry points: the
//! one-shot `decompress_with_limit` and the streaming `decoder` the record reader uses. Any
//! output must stay within the limit asked for, and the two must agree where both succeed.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use rivulet::record::compression::decoder;
use rivulet::record::{Compression, decompress_with_limit};

fuzz_target!(
    init: rivulet_fuzz::write_seeds_if_asked(rivulet_fuzz::decompression_seeds),
    |data: &[u8]| {
        let Some((&[codec, l0, l1], data)) = data.split_first_chunk::<3>() else { return };
        let codec = rivulet_fuzz::CODECS[usize::from(codec) % rivulet_fuzz::CODECS.len()];
        // Up to 4 MiB: enough for ratios far past any real batch, small enough to run fast.
        let limit = usize::from(u16::from_be_bytes([l0, l1]) & 0x0fff) * 1024 + usize::from(l1);

        let whole = decompress_with_limit(codec, data, limit);
        if let Ok(out) = &whole {
            assert!(out.len() <= limit, "{codec}: {} bytes out, limit {limit}", out.len());
        }

        // The streaming decoder leaves the limit to its reader (RecordStream); read one byte
        // past it, in record-sized steps, as that reader does.
        let Ok(mut reader) = decoder(codec, data, limit) else { return };
        let mut streamed = Vec::new();
        let mut chunk = [0u8; 4096];
        let streamed_ok = loop {
            match reader.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => {
                    assert!(n <= chunk.len());
                    streamed.extend_from_slice(&chunk[..n]);
                    if streamed.len() > limit {
                        break false;
                    }
                }
                Err(_) => break false,
            }
        };
        // zstd's streaming decoder refuses windows over 16 MiB that the one-shot path takes.
        if codec != Compression::Zstd
            && let Ok(out) = &whole
        {
            assert!(streamed_ok, "{codec}: the one-shot decoder accepts what the streaming one refuses");
            assert_eq!(out, &streamed, "{codec}: one-shot and streaming output differ");
        }
    }
);
