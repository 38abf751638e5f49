//! Property test: whatever bytes are uploaded, `probe` and `thumbnail`
//! answer (an image, nothing, or an error) and never panic. Inputs are
//! small valid images of each format with bytes overwritten, inserted or
//! cut, and random bytes behind each format's signature, so most cases
//! get past the sniffing into the decoders.

use proptest::prelude::*;

use super::tests::{gif_of, jpeg_of, png_of, webp_of};
use super::{probe, thumbnail};

/// Cases per run: each decodes at most a 64×48 image, a millisecond.
const CASES: u32 = 512;

/// Signatures that make the sniffing pick a decoder.
const SIGNATURES: [&[u8]; 4] = [
    b"\x89PNG\r\n\x1a\n",
    b"\xFF\xD8\xFF",
    b"GIF89a",
    b"RIFF\x40\0\0\0WEBPVP8 ",
];

#[derive(Debug, Clone)]
enum Edit {
    Overwrite(usize, u8),
    Insert(usize, Vec<u8>),
    Cut(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        1 => any::<usize>().prop_map(Edit::Cut),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        if bytes.is_empty() {
            break;
        }
        match edit {
            Edit::Overwrite(at, b) => {
                let at = at % bytes.len();
                bytes[at] = *b;
            }
            Edit::Insert(at, more) => {
                let at = at % bytes.len();
                bytes.splice(at..at, more.iter().copied());
            }
            Edit::Cut(at) => bytes.truncate(at % bytes.len()),
        }
    }
    bytes
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = vec![
        png_of(64, 48),
        jpeg_of(64, 48),
        gif_of(64, 48, 2),
        webp_of(64, 48),
    ];
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(edit(), 1..8),
    )
        .prop_map(|(seed, edits)| apply(seed, &edits))
}

fn signed_noise() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(SIGNATURES.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(signature, noise)| [signature, &noise].concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_an_answer_not_a_panic(
        bytes in prop_oneof![3 => mutated(), 1 => signed_noise()]
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("upload");
        std::fs::write(&path, &bytes).expect("write");
        let _ = probe(&path);
        if let Ok(thumb) = thumbnail(&path, 400) {
            prop_assert!(thumb.width <= 400 && thumb.height <= 400);
            prop_assert!(!thumb.bytes.is_empty());
        }
    }
}
